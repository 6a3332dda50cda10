"""Document images: `mozilla/docornot` (the Hub serves it as `Mozilla/docornot`).

What the card says (dataset_info in README.md; built by `mozilla/docornot` build_dataset.py):
splits **`train` (12,800), `test` (1,600), `validation` (1,600)**, half scanned documents from
RVL-CDIP (small) and half Flickr8k photos. Columns:

| column | type | use here |
| --- | --- | --- |
| `image` | image | the image |
| `is_document` | class label `0: no`, `1: yes` | only `yes` rows are used |

The dataset is a classifier's training set and has no captions. Every document gets the fixed
caption "Text document."; photos (`no`) are left out on purpose, as the card describes them as
the non-document class and they carry no caption. They are not counted as bad rows. There is no
id column, so the id is a hash of the image bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distilvit.data.sources.common import Candidate, image_key
from distilvit.data.sources.hub import SAME_NAMES, HubSource
from distilvit.data.splits import canonical_split

HUB_ID = "mozilla/docornot"
CAPTION = "Text document."


def is_document(value: Any) -> bool:
    """The class label arrives as 1 (decoded ClassLabel), or as "yes"/True from other copies."""
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "1", "true")
    return value is True or value == 1


def parse(row: Mapping[str, Any], hub_split: str, seed: int) -> Candidate | None:
    if not is_document(row.get("is_document")):
        return None
    image = row.get("image")
    return Candidate(id=image_key(image), split=canonical_split(hub_split) or hub_split,
                     image=image, captions=[CAPTION])


SOURCE = HubSource(name="docornot", hub_id=HUB_ID, streaming=True, hub_splits=SAME_NAMES,
                   parse=parse)
