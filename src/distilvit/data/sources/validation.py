"""Human-reviewed alt text: `Mozilla/alt-text-validation`.

What the Hub and its tooling show (viewer; the `checkvite` review app that pushes it, whose
`features` declare the columns; Mozilla's latest loader in `tarekziade/distilvit2`): one hub
split, **`train`**, about 2.97k rows. Columns:

| column | type | use here |
| --- | --- | --- |
| `image` | image | the image |
| `image_id` | int64 | -> `id` |
| `inclusive_alt_text` | string | the reviewer's approved or corrected caption -> `captions` |
| `gpt_alt_text` | string | GPT-4o caption -> `captions` |
| `alt_text` | string | the image's original alt text (e.g. the Pexels photographer's) -> `extra["original_alt_text"]` |
| `dataset`, `license`, `source` | string | `dataset` -> `extra["dataset"]` |
| `verified`, `need_training`, `nsfw`, `golden` | class label no/yes | -> `extra` |
| `rejection_reasons`, `added_by`, `verified_by`, `modified_date` | | not used |

No split of its own: the old loader used the first 10% as validation, the next 10% as test and
*all* rows as train, so val/test images leaked into training. Here the seeded split on
`image_id` puts every image in exactly one split.

Not confirmed: `gpt_alt_text` is attested only by Mozilla's loaders (it is missing from
checkvite's declared features, so it was added later); either caption column may be absent,
and a row with neither is skipped as having no caption.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distilvit.data.sources.common import Candidate, captions_from, row_id
from distilvit.data.sources.hub import HubSource, everything_in
from distilvit.data.splits import seeded_split

HUB_ID = "Mozilla/alt-text-validation"
_FLAGS = ("dataset", "verified", "need_training", "nsfw", "golden")


def parse(row: Mapping[str, Any], hub_split: str, seed: int) -> Candidate:
    image = row.get("image")
    image_id = row_id(row, ("image_id", "id"), image)
    extra: dict[str, Any] = {key: row[key] for key in _FLAGS if row.get(key) is not None}
    extra["original_alt_text"] = (row.get("alt_text") or "").strip()
    return Candidate(id=image_id, split=seeded_split(image_id, seed), image=image, extra=extra,
                     captions=captions_from(row.get("inclusive_alt_text"),
                                            row.get("gpt_alt_text")))


# ~1 GB: small enough to download once and reuse from the cache.
SOURCE = HubSource(name="validation", hub_id=HUB_ID, streaming=False,
                   hub_splits=everything_in("train"), parse=parse)
