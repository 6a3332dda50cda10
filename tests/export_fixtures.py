"""One ONNX export of the session's trained tiny model, shared by the export/ORT/push tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

_EXPORTS: dict[tuple[Path, str], Path] = {}


def export_once(trained_dir: Path, tmp_path_factory, layout: str = "llava") -> Path:
    """`distilvit export trained_dir --layout L --quantize all` (verification on), once per
    session and layout."""
    from distilvit.cli import main

    key = (trained_dir, layout)
    if key not in _EXPORTS:
        out = tmp_path_factory.mktemp(f"exported-{layout}")
        code = main(["export", str(trained_dir), "--output-dir", str(out), "--layout", layout,
                     "--quantize", "all"])
        assert code == 0, f"{layout} export of the trained tiny model failed"
        _EXPORTS[key] = out
    return _EXPORTS[key]


def awkward_images(folder: Path) -> list[Path]:
    """RGBA with transparency, grayscale, palette, and non-square RGB, written as files."""
    rng = np.random.default_rng(5)
    rgba = np.dstack([rng.integers(0, 256, (20, 36, 3), dtype=np.uint8),
                      np.linspace(0, 255, 20 * 36).reshape(20, 36).astype(np.uint8)])
    images = {"rgba.png": Image.fromarray(rgba, "RGBA"),
              "gray.png": Image.fromarray(rng.integers(0, 256, (50, 24), dtype=np.uint8), "L"),
              "palette.gif": Image.fromarray(
                  rng.integers(0, 256, (33, 33, 3), dtype=np.uint8)).convert("P"),
              "wide.jpg": Image.fromarray(rng.integers(0, 256, (17, 90, 3), dtype=np.uint8))}
    paths = []
    for name, image in images.items():
        image.save(folder / name)
        paths.append(folder / name)
    return paths
