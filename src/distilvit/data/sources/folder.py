"""A local image folder in the Hugging Face `imagefolder` convention.

Images sit next to a `metadata.jsonl` or `metadata.csv` whose `file_name` column names each
image (relative to the metadata file). Captions come from any of `caption`, `captions` (a list;
in a CSV, a JSON-encoded list), `text` and `alt_text`, all kept. The folder is read by
`datasets.load_dataset("imagefolder", data_dir=...)`, so its rules apply: sub-folders named
`train`, `validation`/`val`/`dev` and `test` become splits.

Splits: the folder's own when it has more than one split folder; otherwise a `split` column in
the metadata when present; otherwise the seeded split on the image's path inside the folder
(which is also its `id`). Streams by default, so `datasets` copies nothing into its cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from distilvit.data.schema import Example
from distilvit.data.sources.common import Candidate, captions_from, emit, image_key
from distilvit.data.sources.hub import undecoded
from distilvit.data.splits import canonical_split, seeded_split
from distilvit.errors import UsageError

CAPTION_COLUMNS = ("caption", "captions", "text", "alt_text")
METADATA_FILES = ("metadata.jsonl", "metadata.csv")


def load(split: str, *, sample: int | None = None, path: str | None = None, seed: int = 0,
         streaming: bool | None = None) -> Iterator[Example]:
    root = check_folder(path)
    import datasets

    data = datasets.load_dataset("imagefolder", data_dir=str(root),
                                 streaming=True if streaming is None else streaming)
    own_splits = len(data) > 1
    wanted = [name for name in data if not own_splits or canonical_split(name) == split]
    rows = ((name, row) for name in wanted for row in undecoded(data[name]))
    parse = partial(_parse, root=root, own_splits=own_splits)
    return emit("folder", split, rows, parse, seed=seed, sample=sample)


def check_folder(path: str | None) -> Path:
    """The folder, or a one-line UsageError saying what is missing."""
    if path is None:
        raise UsageError("the 'folder' source needs a path: a folder of images with a "
                         "metadata.jsonl or metadata.csv")
    root = Path(path)
    if not root.is_dir():
        raise UsageError(f"{path}: not a folder (the 'folder' source reads a folder of images)")
    if not any(any(root.rglob(name)) for name in METADATA_FILES):
        raise UsageError(f"{path}: no metadata.jsonl or metadata.csv with file_name and a "
                         f"caption column ({', '.join(CAPTION_COLUMNS)})")
    return root


def _parse(row: Mapping[str, Any], row_split: str, seed: int, *, root: Path,
           own_splits: bool) -> Candidate:
    image = row.get("image")
    image_id = _relative_path(image, root)
    if own_splits:
        split = canonical_split(row_split) or row_split
    else:
        split = canonical_split(row.get("split")) or seeded_split(image_id, seed)
    return Candidate(id=image_id, split=split, image=image,
                     captions=captions_from(*(row.get(name) for name in CAPTION_COLUMNS)))


def _relative_path(image: Any, root: Path) -> str:
    """The image's path inside the folder (stable across machines), else a hash of its bytes."""
    path = image.get("path") if isinstance(image, Mapping) else None
    if not path:
        return image_key(image)
    try:
        return Path(os.path.relpath(path, root)).as_posix()
    except ValueError:  # another drive on Windows
        return Path(path).name
