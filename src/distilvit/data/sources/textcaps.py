"""TextCaps (captions that read the text in the image): `lmms-lab/TextCaps`.

What the card says (dataset_info in README.md): splits **`train` (21,953), `val` (3,166),
`test` (3,289)**, one row per image. Columns used:

| column | type | use here |
| --- | --- | --- |
| `image` | image | the image |
| `image_id` | string | -> `id` |
| `caption_str` | list[string] | the (about 5) human captions -> `captions` |
| `reference_strs` | list[string] | fallback when `caption_str` is empty |
| `image_classes` | list[string] | -> `extra["image_classes"]` |

Also present and unused: `question_id`, `question`, `flickr_original_url`, `flickr_300k_url`,
`image_width`, `image_height`, `set_name`, `image_name`, `image_path`, `caption_id`.

TextCaps withholds its test captions for the evaluation server (lmms-eval only writes a
submission file for `test`), so the hub `test` split is never read: our `train` is the hub's
`train`, and our `validation` and `test` are the two halves of the hub's `val`, cut by the
seeded split on `image_id`.

Not confirmed: that `caption_str` is empty in the hub `test` rows, and how `reference_strs`
differs from `caption_str` in this repackaging.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distilvit.data.sources.common import Candidate, captions_from, pick, row_id
from distilvit.data.sources.hub import HubSource
from distilvit.data.splits import seeded_split

HUB_ID = "lmms-lab/TextCaps"
VAL_HALVES = (0.0, 0.5, 0.5)  # hub `val` -> half validation, half test


def parse(row: Mapping[str, Any], hub_split: str, seed: int) -> Candidate:
    image = row.get("image")
    image_id = row_id(row, ("image_id", "image_name"), image)
    split = "train" if hub_split == "train" else seeded_split(image_id, seed, VAL_HALVES)
    extra = {"image_classes": row["image_classes"]} if row.get("image_classes") else {}
    return Candidate(id=image_id, split=split, image=image, extra=extra,
                     captions=captions_from(pick(row, ("caption_str", "reference_strs"))))


SOURCE = HubSource(name="textcaps", hub_id=HUB_ID, streaming=True,
                   hub_splits={"train": ("train",), "validation": ("val",), "test": ("val",)},
                   parse=parse)
