"""Reading a caption request: its images (multipart files or base64 JSON) and its options.

Whatever a client gets wrong becomes an `ApiError` (a status and one line naming the problem),
never another exception: the app turns it into a JSON error, so bad input cannot give a 500.
URLs are refused, never fetched (a server that fetches client URLs can be aimed at hosts
only it can reach).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from PIL import Image, UnidentifiedImageError

from distilvit.errors import ImageError
from distilvit.images import load_image
from distilvit.serve.config import LimitsConfig

FIELD = "image"
OPTIONS = ("num_beams", "max_new_tokens")
JSON_KEYS = (FIELD, *OPTIONS)

# First bytes of the formats we accept: such a file that Pillow cannot open is broken (400),
# not of the wrong kind (415).
SIGNATURES = {"PNG": (b"\x89PNG\r\n\x1a\n",), "JPEG": (b"\xff\xd8\xff",),
              "GIF": (b"GIF87a", b"GIF89a"), "BMP": (b"BM",),
              "TIFF": (b"II*\x00", b"MM\x00*"), "WEBP": (b"RIFF",)}
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_DATA_URL = re.compile(r"^data:[^,]*;base64,", re.IGNORECASE)


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Upload:
    name: str
    data: bytes


@dataclass
class CaptionRequest:
    uploads: list[Upload]
    options: dict[str, int]  # num_beams / max_new_tokens the client asked for


def read_request(request: Any, limits: LimitsConfig) -> CaptionRequest:
    """Parse a Flask request (multipart or JSON); raises ApiError, or werkzeug's 413."""
    if request.mimetype == "multipart/form-data":
        parsed = _from_form(request)
    elif request.mimetype == "application/json":
        parsed = _from_json(request)
    else:
        raise ApiError(415, f"unsupported content type {request.mimetype or 'none'!r}: send "
                            "multipart/form-data with file field 'image', or application/json "
                            "{\"image\": \"<base64>\"}")
    if len(parsed.uploads) > limits.max_images:
        raise ApiError(400, f"{len(parsed.uploads)} images: at most {limits.max_images} per "
                            "request (server limit)")
    check_options(parsed.options, limits)
    return parsed


def _from_form(request: Any) -> CaptionRequest:
    if FIELD in request.form:
        raise ApiError(400, f"field {FIELD!r} must be a file part (filename set), not text")
    unknown = (set(request.files) - {FIELD}) | (set(request.form) - set(OPTIONS))
    if unknown:
        raise ApiError(400, f"unknown field(s) {', '.join(sorted(unknown))}; expected "
                            f"{', '.join(JSON_KEYS)}")
    files = request.files.getlist(FIELD)
    if not files:
        raise ApiError(400, f"missing file field {FIELD!r}")
    uploads = [Upload(_name(f.filename, i), f.read()) for i, f in enumerate(files)]
    options = {key: _form_int(key, request.form[key]) for key in OPTIONS if key in request.form}
    return CaptionRequest(uploads, options)


def _from_json(request: Any) -> CaptionRequest:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object such as {\"image\": \"<base64>\"}")
    unknown = set(body) - set(JSON_KEYS)
    if unknown:
        raise ApiError(400, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; expected "
                            f"{', '.join(JSON_KEYS)}")
    if FIELD not in body:
        raise ApiError(400, f"missing key {FIELD!r} (a base64 string or a list of them)")
    values = body[FIELD] if isinstance(body[FIELD], list) else [body[FIELD]]
    if not values:
        raise ApiError(400, f"{FIELD!r} is an empty list")
    uploads = [Upload(f"image[{i}]", _base64(value, f"image[{i}]"))
               for i, value in enumerate(values)]
    options = {}
    for key in OPTIONS:
        if key in body:
            value = body[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise ApiError(400, f"{key} must be an integer, got {value!r:.40}")
            options[key] = value
    return CaptionRequest(uploads, options)


def _name(filename: str | None, index: int) -> str:
    """The client's file name without folders (it is only echoed back), or image[i]."""
    name = PurePath((filename or "").replace("\\", "/")).name[:100]
    return name or f"image[{index}]"


def _form_int(key: str, text: str) -> int:
    if not re.fullmatch(r"\s*[+-]?\d{1,9}\s*", text):
        raise ApiError(400, f"{key} must be an integer, got {text!r:.40}")
    return int(text)


def _base64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise ApiError(400, f"{name}: expected a base64 string, got {type(value).__name__}")
    if _URL.match(value.strip()):
        raise ApiError(400, f"{name}: URLs are not fetched; send the image bytes, "
                            "base64-encoded")
    text = "".join(_DATA_URL.sub("", value.strip(), count=1).split())
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{name}: not valid base64") from None


def check_options(options: dict[str, int], limits: LimitsConfig) -> None:
    bounds = {"num_beams": limits.max_num_beams, "max_new_tokens": limits.max_new_tokens_limit}
    for key, value in options.items():
        if not 1 <= value <= bounds[key]:
            raise ApiError(400, f"{key} must be between 1 and {bounds[key]} (server limit), "
                                f"got {value}")


# ----- images -----------------------------------------------------------------------------
def open_upload(upload: Upload, limits: LimitsConfig) -> Image.Image:
    """RGB image, or ApiError: 415 for a file of another kind, 400 for a broken or huge one."""
    label = f"image {upload.name!r}"
    if not upload.data:
        raise ApiError(400, f"{label}: empty file (0 bytes)")
    width, height = _header_size(upload.data, limits, label)
    if width * height > limits.max_pixels:
        raise ApiError(400, f"{label}: {width}x{height} pixels is over the server's "
                            f"{limits.max_pixels:,}-pixel limit (possible decompression bomb); "
                            "downscale it first")
    try:
        return load_image(upload.data, limits.max_pixels)
    except ImageError as exc:
        # load_image names the input "<N bytes>"; the client knows it by its label.
        raise ApiError(400, f"{label}: {str(exc).split(': ', 1)[-1]}") from None


def _header_size(data: bytes, limits: LimitsConfig, label: str) -> tuple[int, int]:
    """(width, height) from the header alone: nothing is decoded yet."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(limits.formats)) as image:
                return image.size
    except UnidentifiedImageError:
        if _claims_accepted_format(data, limits.formats):
            raise ApiError(400, f"{label}: corrupt or truncated image (its header is "
                                "unreadable)") from None
        raise ApiError(415, f"{label}: not an image in an accepted format "
                            f"({', '.join(limits.formats)}){_kind(data)}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ApiError(400, f"{label}: too many pixels (possible decompression bomb); the "
                            f"limit is {limits.max_pixels:,}") from None
    except Exception as exc:  # a malformed header can raise nearly anything inside Pillow
        raise ApiError(400, f"{label}: unreadable image header ({type(exc).__name__})") from None


def _claims_accepted_format(data: bytes, formats: tuple[str, ...]) -> bool:
    return any(data.startswith(magic) for name in formats for magic in SIGNATURES.get(name, ()))


def _kind(data: bytes) -> str:
    """A hint for the 415 message: what the bytes look like instead."""
    head = data[:512].lstrip()
    if head.startswith(b"%PDF"):
        return "; this looks like a PDF document"
    if b"<svg" in head.lower():
        return "; this looks like an SVG drawing (vector images are not accepted)"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not merely a character cut at the 512-byte mark
            return ""
    return "; this looks like text"
