"""Reading a model folder's config.json, with one-line errors (torch-free).

`parse_config_file` is the one place it is parsed: a load reads it once (`open_model` passes
the dict on to the runtime it picks) and a test counts the calls.
"""

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
    return parse_config_file(config_file)


def peek_config_json(model_dir: str | Path) -> dict[str, Any]:
    """The folder's config.json, or {} when there is none or it is not a JSON object."""
    config_file = Path(model_dir) / CONFIG_FILE
    if not config_file.is_file():
        return {}
    try:
        return parse_config_file(config_file)
    except ModelDirError:
        return {}


def parse_config_file(config_file: Path) -> dict[str, Any]:
    """A config.json as a dict; a one-line ModelDirError when it is not a JSON object."""
    try:
        config = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{config_file}: unreadable JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ModelDirError(f"{config_file}: not a JSON object")
    return config
