"""Reading user images safely: any Pillow mode becomes 8-bit RGB, bad files become ImageError."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from distilvit.errors import ImageError

ImageInput = str | Path | bytes | Image.Image

# Decompression-bomb guard: 64 Mpx is far above any useful caption input (models see 224-512 px)
# and keeps a hostile 50k x 50k PNG header from allocating gigabytes.
MAX_PIXELS = 64_000_000

_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def image_extensions() -> set[str]:
    return {ext.lower() for ext in Image.registered_extensions()}


def describe(source: ImageInput) -> str:
    """The name an error message uses for an input."""
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    return "<PIL image>"


def load_image(source: ImageInput, max_pixels: int = MAX_PIXELS,
               draft: tuple[int, int] | None = None) -> Image.Image:
    """Open a path, bytes or PIL image as RGB; raise ImageError naming the input on failure.

    `draft` (width, height): let a JPEG decode at the smallest DCT scale (1/2, 1/4, 1/8) that
    keeps both sides at least that large; several times faster for photos far above it.
    """
    name = describe(source)
    if isinstance(source, Image.Image):
        return to_rgb(source)
    data = _read_bytes(source, name)
    if not data:
        raise ImageError(f"{name}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            _check_size(image, name, max_pixels)
            if draft is not None and image.format == "JPEG":
                image.draft("RGB", draft)
            image.load()
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{name}: not a readable image ({_reason(exc)})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{name}: corrupt or truncated image ({_reason(exc)})") from None
    return to_rgb(ImageOps.exif_transpose(image))


def _read_bytes(source: str | Path | bytes, name: str) -> bytes:
    if isinstance(source, bytes):
        return source
    path = Path(source)
    if not path.exists():
        raise ImageError(f"{name}: no such file")
    if path.is_dir():
        raise ImageError(f"{name}: is a directory, not an image")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{name}: cannot read ({exc.strerror})") from None


def _check_size(image: Image.Image, name: str, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: {width}x{height} pixels is over the {max_pixels:,}-pixel limit "
            "(possible decompression bomb); downscale it first")


def _reason(exc: BaseException) -> str:
    """The first line of Pillow's message, without the Python object it names."""
    if isinstance(exc, UnidentifiedImageError):
        # Pillow says "cannot identify image file <_io.BytesIO object at 0x...>"
        return "not an image format Pillow knows"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return _OBJECT_REPR.sub("the file", text)[:120]


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any mode: alpha composited on white, 16-bit/float rescaled, CMYK converted."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _high_depth_to_rgb(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "La", "PA"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "RGBa"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    """Pillow's own convert clips 16-bit values at 255 (a white image); rescale instead."""
    array = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        array = array / 65535.0
    else:
        low, high = float(array.min()), float(array.max())
        array = (array - low) / (high - low) if high > low else np.zeros_like(array)
    gray = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")
