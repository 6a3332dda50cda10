"""Where records go: the terminal, a JSONL file, a Parquet folder, or an imagefolder's metadata.

A record is `{id, image, caption, error, key}`: `image` the file (None for a dataset row), one
of `caption`/`error` set, `key` the resume key. Every file output reads back the keys it already
holds (`done`) so a rerun skips them, and writes each batch durably (see `resume`).

Parquet output is a folder of `part-*.parquet` files (pandas, pyarrow, Ray, DuckDB and Spark
read such a folder as one table). Rows reach a durable journal (`_journal.jsonl`, ignored by
those readers) batch by batch and are moved into a new part every `ROWS_PER_PART` rows and at
the end: the part is written to a hidden temporary name, fsynced and renamed into place, then
the journal is emptied. A kill between the rename and the emptying leaves rows in both; the
next open drops journal rows whose key is already in a part, so no record appears twice.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Protocol

from distilvit.batch.config import BatchConfig
from distilvit.batch.resume import DoneKeys, DurableLog, fsync_dir, read_jsonl
from distilvit.errors import UsageError

logger = logging.getLogger(__name__)

Record = dict[str, Any]
FIELDS = ("id", "image", "caption", "error", "key")
ROWS_PER_PART = 50_000
JOURNAL = "_journal.jsonl"
METADATA = "metadata.jsonl"


class Output(Protocol):
    done: DoneKeys

    def write(self, records: list[Record]) -> None: ...

    def close(self) -> None: ...


def record(item: Any, caption: str | None = None, error: str | None = None) -> Record:
    return {"id": item.id, "image": item.image, "caption": caption, "error": error,
            "key": item.key}


def open_output(cfg: BatchConfig, as_json: bool = False, show_names: bool = True) -> Output:
    kind = cfg.resolved_format()
    if kind == "jsonl":
        return JsonlOutput(Path(cfg.output))
    if kind == "parquet":
        return ParquetOutput(Path(cfg.output), cfg.part_rows)
    if kind == "imagefolder":
        return ImagefolderOutput(Path(cfg.output))
    return TerminalOutput(as_json, show_names)


class TerminalOutput:
    """Today's `distilvit caption` printing: `path: caption` lines or `--json` objects."""

    def __init__(self, as_json: bool, show_names: bool):
        self.as_json, self.show_names, self.done = as_json, show_names, DoneKeys()

    def write(self, records: list[Record]) -> None:
        for rec in records:
            name = rec["image"] if rec["image"] is not None else rec["id"]
            if rec["error"] is not None:
                print(f"error: {rec['error']}", file=sys.stderr, flush=True)
                if self.as_json:
                    print(json.dumps({"image": name, "error": rec["error"]}), flush=True)
            elif self.as_json:
                print(json.dumps({"image": name, "caption": rec["caption"]}), flush=True)
            else:
                print(f"{name}: {rec['caption']}" if self.show_names else rec["caption"],
                      flush=True)

    def close(self) -> None:
        pass


class JsonlOutput:
    """One JSON object per line; null fields are left out."""

    def __init__(self, path: Path):
        if path.is_dir():
            raise UsageError(f"{path}: is a folder; a .jsonl output is a file")
        self.log = DurableLog(path)
        if self.log.dropped_bytes:
            logger.warning("%s: dropped a torn last line (%d bytes) left by an interrupted run",
                           path, self.log.dropped_bytes)
        self.done = DoneKeys(rec["key"] for rec in read_jsonl(path) if "key" in rec)

    def write(self, records: list[Record]) -> None:
        self.log.append([{k: v for k, v in rec.items() if v is not None} for rec in records])

    def close(self) -> None:
        self.log.close()


class ImagefolderOutput:
    """`metadata.jsonl` in the image folder: `file_name` (relative to it) and `caption`, the
    layout the `folder` dataset source and `distilvit quality` read. Error rows carry `error`
    and no caption (that source skips them)."""

    def __init__(self, target: Path):
        self.root = target.parent if target.name == METADATA else target
        if not self.root.is_dir():
            raise UsageError(f"{target}: imagefolder output is the (existing) folder that holds "
                             "the images")
        self.jsonl = JsonlOutput(self.root / METADATA)
        self.done = self.jsonl.done

    def write(self, records: list[Record]) -> None:
        rows = [{"file_name": self._file_name(rec), "caption": rec["caption"],
                 "error": rec["error"], "key": rec["key"]} for rec in records]
        self.jsonl.log.append(rows)

    def _file_name(self, rec: Record) -> str:
        if rec["image"] is None:
            raise UsageError("imagefolder output needs image files, not dataset rows")
        relative = os.path.relpath(os.path.abspath(rec["image"]), self.root.resolve())
        if relative.startswith(".."):
            raise UsageError(f"{rec['image']}: outside {self.root}; imagefolder output is the "
                             "folder that holds the images")
        return Path(relative).as_posix()

    def close(self) -> None:
        self.jsonl.close()


def parquet_schema():
    import pyarrow as pa

    return pa.schema([(name, pa.string()) for name in FIELDS])


class ParquetOutput:
    def __init__(self, folder: Path, rows_per_part: int = ROWS_PER_PART):
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError("Parquet output needs pyarrow: pip install 'distilvit[scale]', "
                             "or write --output x.jsonl") from None
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"{folder}: is a file; Parquet output is a folder of part files")
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.rows_per_part = folder, rows_per_part
        for stale in folder.glob(".part-*.tmp"):  # a part a killed run never renamed
            stale.unlink()
        part_keys = DoneKeys(read_part_keys(folder))
        self.journal = DurableLog(folder / JOURNAL)
        pending = [rec for rec in read_jsonl(folder / JOURNAL) if rec["key"] not in part_keys]
        self._flush(pending)
        self.done = DoneKeys(read_part_keys(folder))
        self.pending = 0

    def write(self, records: list[Record]) -> None:
        self.journal.append(records)
        self.pending += len(records)
        if self.pending >= self.rows_per_part:
            self._flush(list(read_jsonl(self.folder / JOURNAL)))
            self.pending = 0

    def _flush(self, rows: list[Record]) -> None:
        if rows:
            write_part(self.folder, rows)
        self.journal.truncate()

    def close(self) -> None:
        if self.pending:
            self._flush(list(read_jsonl(self.folder / JOURNAL)))
            self.pending = 0
        self.journal.close()


def write_part(folder: Path, rows: list[Record]) -> Path:
    """A new part file, atomically: hidden temporary name, fsync, rename, fsync the folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([{f: row.get(f) for f in FIELDS} for row in rows],
                                 schema=parquet_schema())
    name = f"part-{uuid.uuid4().hex[:16]}.parquet"
    tmp = folder / f".{name}.tmp"
    with tmp.open("wb") as handle:
        pq.write_table(table, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, folder / name)
    fsync_dir(folder)
    return folder / name


def read_part_keys(folder: Path):
    """The key of every row of every part file, one part at a time."""
    import pyarrow.parquet as pq

    for part in sorted(folder.glob("*.parquet")):
        try:
            keys = pq.read_table(part, columns=["key"]).column("key").to_pylist()
        except Exception as exc:  # not ours, or damaged: its inputs are captioned again
            logger.warning("%s: not a readable part file (%s); ignored", part, exc)
            continue
        yield from keys


def read_parquet_records(folder: str | Path) -> list[Record]:
    """Every record of a Parquet output folder (for tests and small outputs)."""
    import pyarrow.parquet as pq

    rows: list[Record] = []
    for part in sorted(Path(folder).glob("*.parquet")):
        rows += pq.read_table(part).to_pylist()
    return rows
