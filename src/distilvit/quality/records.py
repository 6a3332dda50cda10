"""What the dataset tools read: any registry dataset, a saved (merged) dataset, an image
folder, or a JSONL/CSV file of captions, as a stream of `Record`s.

A `Record` is the report's view of one image: its captions, the originals they were made
from (when the source has them), its objects (when the source has them), and the image
itself, decoded one at a time so no dataset is ever held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from PIL import Image

from distilvit.data.schema import Example
from distilvit.errors import ImageError, UsageError
from distilvit.tables import read_table
from distilvit.words.objects import object_names

TEXT_FILES = (".jsonl", ".csv")
CAPTION_COLUMNS = ("alt_text", "captions", "caption", "text")
ORIGINAL_COLUMNS = ("original_alt_text", "original_captions")


@dataclass
class Record:
    id: str
    source: str
    captions: list[str]
    originals: list[str] = field(default_factory=list)
    objects: list[str] | None = None  # None: the source has no objects (use the vocabulary)
    image: Image.Image | None = None


def from_example(example: Example) -> Record:
    from distilvit.data.sources.common import captions_from

    extra = example.extra
    originals = captions_from(extra.get("original_captions"), extra.get("original_alt_text"))
    return Record(id=example.id, source=example.source, captions=list(example.captions),
                  originals=originals, objects=object_names(extra.get("objects")),
                  image=example.image)


def read_records(dataset: str, split: str, *, max_samples: int = 0, dataset_path: str = "",
                 seed: int = 0) -> Iterator[Record]:
    """Records of `split` of a registry name, or of the dataset at path `dataset`."""
    from distilvit.data.registry import load_examples, source_names

    limit = max_samples or None
    if dataset in source_names():
        examples = load_examples(dataset, split, sample=limit, path=dataset_path or None,
                                 seed=seed)
        return (from_example(e) for e in examples)
    path = Path(dataset)
    if not path.exists():
        raise UsageError(f"{dataset}: neither a dataset name ({', '.join(source_names())}) "
                         "nor an existing file or folder")
    if path.is_file():
        return islice(_text_file(path), limit)
    from distilvit.data.sources.folder import METADATA_FILES
    from distilvit.data.sources.hub import is_saved_dataset

    if is_saved_dataset(str(path)):
        return islice(_saved(path, split), limit)
    if any(any(path.rglob(name)) for name in METADATA_FILES):
        return (from_example(e) for e in load_examples("folder", split, sample=limit,
                                                       path=str(path), seed=seed))
    raise UsageError(f"{dataset}: not a saved dataset (save_to_disk), an image folder with "
                     "metadata.jsonl/csv, or a .jsonl/.csv file")


# ----- saved datasets (the output of `distilvit data merge`) --------------------------------
def open_saved(path: Path, split: str) -> Any:
    """One split of a `save_to_disk` folder (a plain Dataset is taken whole)."""
    import datasets

    data = datasets.load_from_disk(str(path))
    if isinstance(data, datasets.DatasetDict):
        if split not in data:
            raise UsageError(f"{path}: no split {split!r} (it has {', '.join(data)})")
        data = data[split]
    return data


def _saved(path: Path, split: str) -> Iterator[Record]:
    from distilvit.data.sources.hub import undecoded

    data = undecoded(open_saved(path, split))
    for index, row in enumerate(data):
        yield row_record(row, index, default_source=path.name, image=_decoded(row.get("image")))


def _decoded(cell: Any) -> Image.Image | None:
    from distilvit.data.sources.common import decode_image

    if cell is None:
        return None
    try:
        return decode_image(cell)
    except ImageError:
        return None  # counted by the report as an example without an image


# ----- JSONL / CSV caption files -------------------------------------------------------------
def row_record(row: Mapping[str, Any], index: int, *, default_source: str,
               image: Image.Image | None = None) -> Record:
    """A record from one row of a caption table (merged dataset, JSONL or CSV)."""
    from distilvit.data.sources.common import captions_from

    objects = row.get("objects")
    if isinstance(objects, str):  # a CSV cell: JSON list or "a;b"
        objects = captions_from(objects) if objects.startswith("[") else objects.split(";")
    return Record(
        id=str(row.get("source_id") or row.get("id") or row.get("file_name") or index),
        source=str(row.get("source") or default_source),
        captions=captions_from(*(row.get(c) for c in CAPTION_COLUMNS)),
        originals=captions_from(*(row.get(c) for c in ORIGINAL_COLUMNS)),
        objects=object_names(objects) or None,  # empty: the source had none
        image=image)


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a .jsonl or .csv file, as dicts."""
    if path.suffix.lower() not in TEXT_FILES:
        raise UsageError(f"{path}: expected a .jsonl or .csv file of captions")
    return read_table(path)


def _text_file(path: Path) -> Iterator[Record]:
    from distilvit.images import load_image

    for index, row in enumerate(read_rows(path)):
        image = None
        name = row.get("file_name") or row.get("image")
        if isinstance(name, str) and (path.parent / name).is_file():
            try:
                image = load_image(path.parent / name)
            except ImageError:
                image = None
        record = row_record(row, index, default_source=path.stem, image=image)
        if record.captions:
            yield record
