"""Decoding and resizing an input to the model's input size, off the model's thread.

A 12-Mpx JPEG takes tens of ms to decode and resize; the model needs a 224-px image. `Prepare`
does that work in a worker thread (Pillow releases the GIL while decoding and resizing), and
resizes to exactly the size the model's own preprocessing resizes to, with its filter: the
model's resize then has nothing left to do (Pillow returns a copy for a same-size resize), so
the pixels are those of the plain path. With `draft`, a JPEG first decodes at a reduced DCT
scale that keeps both sides at least the model's input size: several times faster, and the
pixels then differ slightly from a full decode (so captions can, rarely).
"""

from __future__ import annotations

import logging
from typing import Any

from PIL import Image

from distilvit.errors import ImageError, ModelDirError
from distilvit.images import load_image
from distilvit.ort.preprocess import ImagePreprocessor

logger = logging.getLogger(__name__)


def model_preprocessor(model: Any) -> ImagePreprocessor | None:
    """The model's resize rule, from an ONNX captioner's preprocessor or a torch captioner's
    Hugging Face image processor; None when it has neither (images then go through as read)."""
    prep = getattr(model, "preprocessor", None)
    if isinstance(prep, ImagePreprocessor):
        return prep
    processor = getattr(model, "image_processor", None)
    if processor is None or not hasattr(processor, "to_dict"):
        return None
    try:
        return ImagePreprocessor(processor.to_dict())
    except (ModelDirError, KeyError, TypeError, ValueError) as exc:
        logger.info("no early resize (%s): images reach the model at full size", exc)
        return None


class Prepare:
    """item -> RGB image at the model's input size; ImageError for a bad input."""

    def __init__(self, preprocessor: ImagePreprocessor | None, draft: bool = True):
        self.preprocessor = preprocessor
        self.draft_size = _draft_size(preprocessor) if draft else None

    def __call__(self, item: Any) -> Image.Image:
        source = item.image if item.image is not None else item.payload
        image = load_image(source, draft=self.draft_size)
        if self.preprocessor is None:
            return image
        target = self.preprocessor.target_size(image.size)
        if target == image.size:
            return image
        return image.resize(target, resample=self.preprocessor.resample)


def _draft_size(prep: ImagePreprocessor | None) -> tuple[int, int] | None:
    """The smallest decode size that still gives the model's resize at least its output size."""
    if prep is None or prep.resize is None:
        return None
    kind, value = prep.resize
    side = max(value) if kind == "exact" else value
    return side, side


def decode_error(item: Any, exc: ImageError) -> str:
    """The error text of a record: ImageError already names the path; a dataset row gets its id."""
    message = str(exc)
    return message if item.image is not None else f"{item.id}: {message}"
