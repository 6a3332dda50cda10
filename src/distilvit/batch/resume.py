"""Crash-safe appends and the set of inputs already done.

The guarantee (checked by a test that SIGKILLs a real run): a run killed at any instant loses
at most the batch it was writing, and never leaves a half-written or a duplicated record.

- `DurableLog` appends one whole batch of JSON lines with a single `write`, then `fsync`. A
  kill can still cut that write short; on reopen, the bytes after the last newline (the only
  place a torn line can be) are truncated away. Complete lines of a cut batch stay: they are
  whole records, and their inputs are then skipped on resume, so nothing is written twice.
- `DoneKeys` holds the resume keys already in the output as sorted 64-bit hashes: 8 bytes per
  input (8 MB per million), looked up by binary search. A hash collision (odds ~N^2 / 2^65,
  about 3e-8 at a million inputs) would skip one input.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np


def key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


class DoneKeys:
    def __init__(self, keys: Iterable[str] = ()):
        hashes = np.fromiter((key_hash(k) for k in keys), dtype=np.uint64)
        self._sorted = np.unique(hashes)

    def __len__(self) -> int:
        return len(self._sorted)

    def __contains__(self, key: str) -> bool:
        value = np.uint64(key_hash(key))
        at = int(np.searchsorted(self._sorted, value))
        return at < len(self._sorted) and self._sorted[at] == value


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in `folder` durable (no-op where directories can't sync)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class DurableLog:
    """An append-only JSONL file written batch by batch, repaired when opened."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.dropped_bytes = repair_tail(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        fsync_dir(self.path.parent)

    def append(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
        written = 0
        while written < len(data):  # a regular file takes it in one write; loop to be exact
            written += os.write(self._fd, data[written:])
        os.fsync(self._fd)

    def truncate(self) -> None:
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def repair_tail(path: Path) -> int:
    """Cut a torn last line (bytes after the last newline); the number of bytes dropped."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    with path.open("rb+") as handle:
        end = size
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            chunk = handle.read(end - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        if end != size:
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())
    return size - end


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a (repaired) JSONL file, one at a time."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)
