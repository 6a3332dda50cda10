"""Image preprocessing exactly as `preprocessor_config.json` says, with Pillow and numpy only.

It reproduces the Pillow backend of Hugging Face image processors step for step (the one the
torch path uses): resize with Pillow's filter numbered `resample`, optional centre crop,
`x * rescale_factor` computed in float64 then cast to float32, `(x - mean) / std` in float32,
channels first. Tests compare it with the torch path's processor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from distilvit.errors import ModelDirError
from distilvit.images import to_rgb


class ImagePreprocessor:
    def __init__(self, config: dict[str, Any], source: str = "preprocessor_config.json"):
        self.resize = _resize_rule(config, source) if config.get("do_resize", True) else None
        self.crop = _crop_size(config, source) if config.get("do_center_crop") else None
        self.resample = Image.Resampling(int(config.get("resample", Image.Resampling.BILINEAR)))
        self.scale = float(config["rescale_factor"]) if config.get("do_rescale", True) else None
        self.mean = self.std = None
        if config.get("do_normalize", True):
            self.mean = np.asarray(config["image_mean"], dtype=np.float32)
            self.std = np.asarray(config["image_std"], dtype=np.float32)
        if config.get("do_pad"):
            raise ModelDirError(f"{source}: padding (do_pad) is not supported")

    @classmethod
    def from_file(cls, path: str | Path) -> ImagePreprocessor:
        return cls(json.loads(Path(path).read_text()), str(path))

    def __call__(self, images: list[Image.Image]) -> np.ndarray:
        """RGB images (any size) -> pixel_values [B, 3, H, W] float32."""
        return np.stack([self.one(image) for image in images])

    def one(self, image: Image.Image) -> np.ndarray:
        image = to_rgb(image)
        if self.resize is not None:
            image = image.resize(self._target(image.size), resample=self.resample)
        array = np.asarray(image)
        if self.crop is not None:
            array = _center_crop(array, *self.crop)
        if self.scale is not None:
            # HF rescales in float64 and casts down afterwards; doing the same keeps bit parity.
            pixels = (array.astype(np.float64) * self.scale).astype(np.float32)
        else:
            pixels = array.astype(np.float32)
        if self.mean is not None:
            pixels = (pixels - self.mean) / self.std
        return np.ascontiguousarray(pixels.transpose(2, 0, 1))

    def target_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) an image of `size` is resized to (itself when resizing is off)."""
        return self._target(size) if self.resize is not None else size

    def _target(self, size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) to resize to."""
        kind, value = self.resize
        if kind == "exact":
            height, width = value
            return width, height
        width, height = size  # shortest edge to `value`, aspect kept (HF's int() rounding)
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = value, int(value * long / short)
        return (new_short, new_long) if width <= height else (new_long, new_short)


def _resize_rule(config: dict[str, Any], source: str) -> tuple[str, Any]:
    size = config.get("size")
    if isinstance(size, dict) and "height" in size and "width" in size:
        return "exact", (int(size["height"]), int(size["width"]))
    if isinstance(size, dict) and set(size) == {"shortest_edge"}:
        return "shortest", int(size["shortest_edge"])
    raise ModelDirError(f"{source}: unsupported resize rule size={size!r} (height/width or "
                        "shortest_edge)")


def _crop_size(config: dict[str, Any], source: str) -> tuple[int, int]:
    crop = config.get("crop_size")
    if isinstance(crop, dict) and "height" in crop and "width" in crop:
        return int(crop["height"]), int(crop["width"])
    raise ModelDirError(f"{source}: unsupported crop_size={crop!r}")


def _center_crop(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """HF's centre crop for the usual case (crop not larger than the image)."""
    rows, cols = array.shape[:2]
    if height > rows or width > cols:
        raise ValueError(f"centre crop {height}x{width} is larger than the resized image "
                         f"{rows}x{cols}")
    top, left = (rows - height) // 2, (cols - width) // 2
    return array[top:top + height, left:left + width]
