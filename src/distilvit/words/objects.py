"""Object names from a dataset's objects column (the quality report and `data merge` read them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def object_names(objects: Any) -> list[str] | None:
    """Object names from an objects column: strings as they are, `shapes`' dicts as
    "colour shape" (so a rare colour or a rare shape makes its objects rare)."""
    if objects is None:
        return None
    names = []
    for item in objects:
        if isinstance(item, str) and item.strip():
            names.append(item.strip().lower())
        elif isinstance(item, Mapping) and item.get("shape"):
            names.append(" ".join(str(item[k]) for k in ("colour", "shape") if item.get(k)))
    return names
