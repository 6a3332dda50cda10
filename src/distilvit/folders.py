"""Reading a model folder's config.json, with one-line errors (torch-free)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from distilvit.errors import ModelDirError

CONFIG_FILE = "config.json"


def read_config_json(model_dir: str | Path, written_by: str) -> dict[str, Any]:
    """The folder's config.json as a dict; `written_by` names the commands that make one."""
    path = Path(model_dir)
    if not path.exists():
        raise ModelDirError(f"{model_dir}: no such model directory")
    if not path.is_dir():
        raise ModelDirError(f"{model_dir}: is a file; pass a model directory")
    config_file = path / CONFIG_FILE
    if not config_file.is_file():
        raise ModelDirError(f"{model_dir}: not a distilvit model (no {CONFIG_FILE}); pass a "
                            f"folder written by {written_by}")
    try:
        config = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{config_file}: unreadable JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ModelDirError(f"{config_file}: not a JSON object")
    return config
