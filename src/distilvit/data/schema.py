"""The one example schema every dataset source normalises to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image

SPLITS = ("train", "validation", "test")


@dataclass
class Example:
    image: Image.Image  # RGB
    captions: list[str]  # every reference caption (training samples one per epoch)
    source: str  # registry name, e.g. "coco", "shapes"
    id: str  # stable image id within the source (splits and dedup are keyed on it)
    split: str  # one of SPLITS
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. shapes' ground-truth objects
