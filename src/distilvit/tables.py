"""Rows of a CSV or JSON Lines file as dicts, with one-line errors (torch-free).

One reader for every tool that takes a table of records: caption files for the dataset tools,
image manifests for batch captioning.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from distilvit.errors import UsageError

JSONL_SUFFIXES = (".jsonl", ".ndjson")


def read_table(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a .csv file, or of a JSON Lines file (one object a line, blank lines skipped)."""
    with open(path, newline="", encoding="utf-8") as handle:
        if path.suffix.lower() == ".csv":
            yield from csv.DictReader(handle)
            return
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{number}: not a JSON object ({exc.msg})") from None
            if not isinstance(row, dict):
                raise UsageError(f"{path}:{number}: expected a JSON object per line")
            yield row
