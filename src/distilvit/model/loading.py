"""Resolving model names (Hub ids, local paths, built-in tiny bases) with one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TypeVar

from distilvit.config import BUILTIN_PREFIX
from distilvit.errors import UsageError
from distilvit.runtime import hf_quiet

T = TypeVar("T")


def builtin_dir(name: str) -> Path:
    """Where a built-in base lives inside the installed package."""
    return Path(str(resources.files("distilvit"))) / "assets" / name


def resolve(name_or_path: str, base_dir: str | Path | None = None) -> str:
    """Turn a recorded name into something `from_pretrained` takes.

    `builtin:NAME` is package data; a relative path that exists under `base_dir` (a merged
    checkpoint's `encoder/`, `decoder/`, or a .gguf file) wins over a Hub id; anything else is
    passed through (a .gguf file or a folder holding one is read by `model.gguf`).
    """
    if name_or_path.startswith(BUILTIN_PREFIX):
        path = builtin_dir(name_or_path[len(BUILTIN_PREFIX):])
        if not (path / "config.json").is_file():
            raise UsageError(
                f"built-in model {name_or_path!r} is missing at {path}; build it with "
                "`make tiny-bases`")
        return str(path)
    if base_dir is not None and not Path(name_or_path).is_absolute():
        candidate = Path(base_dir) / name_or_path
        if candidate.is_dir() or (candidate.is_file() and candidate.suffix == ".gguf"):
            return str(candidate)
    return name_or_path


def load_or_explain(what: str, name: str, loader: Callable[[], T]) -> T:
    """Run a `from_pretrained` call; turn 'not found / no network' into one clear line."""
    try:
        with hf_quiet():
            return loader()
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"cannot load {what} from {name!r}: {first[:200]} (pass a local folder, or make "
            "sure the Hub is reachable)") from None
