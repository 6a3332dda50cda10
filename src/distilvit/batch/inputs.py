"""What to caption, as a stream of `Item`s: files, folders (recursive), manifests, a dataset.

Every listing is a generator in a fixed order (folders walked with sorted names), so memory
stays flat for a million inputs and a rerun lists the same items in the same order. Each item
carries its resume key: the resolved path + size + mtime for a file (an edited or replaced
image is captioned again), `dataset/split/id` for a dataset row.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distilvit.batch.config import BatchConfig
from distilvit.errors import UsageError
from distilvit.images import image_extensions
from distilvit.tables import JSONL_SUFFIXES, read_table

PATH_COLUMNS = ("path", "image", "file_name", "filepath")


@dataclass(frozen=True)
class Item:
    key: str  # resume key (see the module docstring)
    id: str  # the record's id: the path as listed, a manifest's id column, a dataset row id
    image: str | None  # the file to read; None for a dataset row
    payload: Any = None  # a dataset row's image (PIL) when there is no file


def file_item(path: str, item_id: str | None = None) -> Item:
    """An Item for a path; a missing file still gets one (it becomes an error record)."""
    resolved = os.path.abspath(path)
    try:
        stat = os.stat(resolved)
        key = f"{resolved}|{stat.st_size}|{stat.st_mtime_ns}"
    except OSError:
        key = f"{resolved}|missing"
    return Item(key=key, id=item_id if item_id is not None else path, image=path)


def walk_images(folder: str) -> Iterator[str]:
    """Image files under `folder`, recursively, by extension, in sorted order; hidden
    folders (.git, .cache ...) are skipped."""
    extensions = image_extensions()
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if os.path.splitext(name)[1].lower() in extensions:
                yield os.path.join(root, name)


def expand_paths(paths: Iterable[str]) -> Iterator[str]:
    """Folders become their image files (recursively); other paths stay as given."""
    for path in paths:
        if os.path.isdir(path):
            yield from walk_images(path)
        else:
            yield path


def iter_items(paths: list[str], cfg: BatchConfig) -> Iterator[Item]:
    """Every input of the run, positional paths first, then the manifest or the dataset."""
    for path in expand_paths(paths):
        yield file_item(path)
    if cfg.manifest:
        for path, item_id in manifest_rows(cfg.manifest, cfg.path_column, cfg.id_column):
            yield file_item(path, item_id)
    if cfg.dataset:
        yield from dataset_items(cfg)


def count_items(paths: list[str], cfg: BatchConfig) -> int | None:
    """How many items `iter_items` yields (for the ETA), without stat; None for a dataset."""
    if cfg.dataset:
        return None
    total = sum(1 for _ in expand_paths(paths))
    if cfg.manifest:
        total += sum(1 for _ in manifest_rows(cfg.manifest, cfg.path_column, cfg.id_column))
    return total


def manifest_rows(manifest: str, path_column: str = "",
                  id_column: str = "") -> Iterator[tuple[str, str | None]]:
    """(path, id) per row; relative paths are taken relative to the manifest's folder."""
    source = Path(manifest)
    if not source.is_file():
        raise UsageError(f"{manifest}: no such manifest file")
    suffix = source.suffix.lower()
    if suffix in (".txt", ".lst", ""):
        rows: Iterator[dict[str, Any]] = _text_rows(source)
        path_column, id_column = "path", ""
    elif suffix == ".csv" or suffix in JSONL_SUFFIXES:
        rows = read_table(source)
    elif suffix == ".parquet":
        rows = _parquet_rows(source)
    else:
        raise UsageError(f"{manifest}: unknown manifest kind {suffix!r}; use .txt, .csv, "
                         ".jsonl or .parquet")
    return _paths_of(rows, source, path_column, id_column)


def _paths_of(rows: Iterator[dict[str, Any]], source: Path, path_column: str,
              id_column: str) -> Iterator[tuple[str, str | None]]:
    base = source.parent
    for number, row in enumerate(rows, 1):
        column = path_column or next((c for c in PATH_COLUMNS if c in row), "")
        if not column or column not in row:
            wanted = path_column or " or ".join(PATH_COLUMNS)
            raise UsageError(f"{source}: row {number} has no {wanted} column; name the path "
                             "column with --path-column")
        if id_column and id_column not in row:
            raise UsageError(f"{source}: row {number} has no {id_column!r} column (--id-column)")
        path = str(row[column])
        full = path if os.path.isabs(path) else str(base / path)
        yield full, (str(row[id_column]) if id_column else path)


def _text_rows(source: Path) -> Iterator[dict[str, Any]]:
    with source.open(encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                yield {"path": line}


def _parquet_rows(source: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(source).iter_batches(batch_size=4096):
        yield from batch.to_pylist()


def dataset_items(cfg: BatchConfig) -> Iterator[Item]:
    """A registry dataset's rows of one split (the source decodes each image as it reads)."""
    from distilvit.data.registry import load_examples

    examples = load_examples(cfg.dataset, cfg.split, path=cfg.dataset_path or None,
                             sample=cfg.sample or None)
    for example in examples:
        yield Item(key=f"{cfg.dataset}/{cfg.split}/{example.id}", id=example.id, image=None,
                   payload=example.image)
