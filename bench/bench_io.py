"""What every bench script shares: writing its figures to `--json PATH`."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(report: dict, path: Path | None) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
