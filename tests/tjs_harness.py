"""Stock transformers.js (npm @huggingface/transformers) in Chromium: where it is, the page
under tests/transformersjs/, and the scenes both test_transformers_js.py and the real-LM
browser check in test_real_lm.py caption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser_harness import NODE_MODULES, browser_missing
from distilvit.config import ShapesConfig
from distilvit.data.synthetic import make_example

TJS = NODE_MODULES / "@huggingface" / "transformers"
TJS_ORT = TJS / "node_modules" / "onnxruntime-web" / "dist"
HERE = Path(__file__).resolve().parent / "transformersjs"
AT_SIZE = [f"scene{i}.png" for i in range(6)]

needs_tjs = pytest.mark.skipif(
    browser_missing() is not None or not (TJS / "dist" / "transformers.js").is_file()
    or not TJS_ORT.is_dir(),
    reason=browser_missing() or "@huggingface/transformers is not installed (npm install)")


def write_images(folder: Path) -> list[str]:
    """Scenes at the model's size (the shapes default), then other sizes, alpha, grayscale
    and JPEG."""
    side = ShapesConfig().image_size

    def scene(index: int, size: int = side) -> Image.Image:
        return make_example("test", index, ShapesConfig(image_size=size)).image

    for i, name in enumerate(AT_SIZE):
        scene(i).save(folder / name)
    scene(6, 128).save(folder / "scene-128px.png")
    scene(7, 160).resize((120, 70), Image.Resampling.BILINEAR).save(folder / "wide.png")
    scene(8, 48).save(folder / "scene-48px.png")
    rgba = scene(9).convert("RGBA")
    alpha = (np.arange(side * side) % 256).reshape(side, side).astype(np.uint8)
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(folder / "rgba.png")
    scene(10).convert("L").save(folder / "gray.png")
    scene(11).save(folder / "scene.jpg", quality=85)
    return sorted(p.name for p in folder.iterdir())



def scenes_folder(tmp_path_factory) -> Path:
    """A new folder holding `write_images`'s scenes (a test module's `images` fixture)."""
    folder = tmp_path_factory.mktemp("tjs-images")
    write_images(folder)
    return folder
