"""Flickr30k with GPT-4o alt text: `Mozilla/flickr30k-transformed-captions-gpt4o`.

What the Hub card says (dataset_info in README.md, commit 2f79e81; the generating script
`mozilla/distilvit` curate_gpt.py / a gpt4o variant of curate.py): one hub split, **`test`**,
31,014 rows, one row per image, built from `nlphuji/flickr30k` (whose whole corpus sits in its
`test` split). Columns:

| column | type | use here |
| --- | --- | --- |
| `image` | image | the image |
| `alt_text` | string | the GPT-4o de-biased caption -> `captions` |
| `original_alt_text` | list[string] | the 5 original Flickr30k captions -> `extra["original_captions"]` |
| `split` | string | Karpathy split of the image (`train` / `val` / `test`) -> our split |
| `img_id` | string | image id -> `id` |
| `filename` | string | -> `extra["filename"]` |
| `sentids` | list[string] | not used |

The original captions are kept in `extra`, not in `captions`: the GPT-4o text exists because the
originals carry the gendered and racial descriptors this project trains away from.

Not confirmed: the last upload (commit e5c7768) changed the card and may have renamed the hub
split; the latest Mozilla merge script still reads `test`. The values of `split` are taken from
`nlphuji/flickr30k`'s card, not seen in this dataset. A row whose split value is missing or
unknown falls back to the seeded split by id. `caption`/`captions` are accepted in place of
`alt_text` so a local copy of `nlphuji/flickr30k` itself also loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distilvit.data.sources.common import Candidate, captions_from, pick, row_id
from distilvit.data.sources.hub import HubSource, everything_in
from distilvit.data.splits import canonical_split, seeded_split

HUB_ID = "Mozilla/flickr30k-transformed-captions-gpt4o"


def parse(row: Mapping[str, Any], hub_split: str, seed: int) -> Candidate:
    image = row.get("image")
    image_id = row_id(row, ("img_id", "filename"), image)
    split = canonical_split(row.get("split")) or seeded_split(image_id, seed)
    extra = {"original_captions": captions_from(row.get("original_alt_text")),
             "filename": row.get("filename")}
    return Candidate(id=image_id, split=split, image=image, extra=extra,
                     captions=captions_from(pick(row, ("alt_text", "captions", "caption"))))


SOURCE = HubSource(name="flickr", hub_id=HUB_ID, streaming=True,
                   hub_splits=everything_in("test"), parse=parse)
