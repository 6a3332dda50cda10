"""What the serving tests share: a live server on loopback, test images, a bad-input corpus."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image

from distilvit.config import ShapesConfig
from distilvit.data.synthetic import make_example
from distilvit.serve.app import close_app, create_app
from distilvit.serve.config import ServeConfig
from distilvit.serve.server import WaitressServer


@contextmanager
def running_server(model_dir, threads: int = 8, **app_options) -> Iterator[str]:
    """`create_app(model_dir, **app_options)` under waitress on 127.0.0.1:<free port>."""
    app = create_app(model_dir, **app_options)
    limits = app.extensions["distilvit"].limits
    server = WaitressServer(app, ServeConfig(port=0, threads=threads), limits).start()
    try:
        yield server.url
    finally:
        server.close()
        close_app(app)


def png_bytes(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format)
    return buffer.getvalue()


def shapes_images(count: int, start: int = 0) -> list[bytes]:
    """Scenes of the shapes test split as PNG files (what the model was trained on)."""
    return [png_bytes(make_example("test", i, ShapesConfig()).image)
            for i in range(start, start + count)]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming width x height, with one tiny IDAT: a bomb
    header (the pixels it claims would take gigabytes once decoded)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))


@dataclass(frozen=True)
class BadInput:
    name: str
    data: bytes
    status: int
    says: str  # a phrase the JSON error must contain


def bad_corpus() -> list[BadInput]:
    """Files a server must refuse with a 4xx and a JSON error, never a 500."""
    good = shapes_images(1)[0]
    jpeg = png_bytes(make_example("test", 1, ShapesConfig()).image.resize((256, 256)), "JPEG")
    return [
        BadInput("empty.png", b"", 400, "empty"),
        BadInput("truncated.png", good[: len(good) // 2], 400, "truncated"),
        BadInput("signature-only.png", good[:12], 400, "truncated"),
        BadInput("truncated.jpg", jpeg[: len(jpeg) // 2], 400, "truncated"),
        BadInput("notes.txt", b"a caption is not an image\n" * 20, 415, "text"),
        BadInput("drawing.svg", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/'
                                b'svg" width="10" height="10"><rect width="10" height="10"/>'
                                b"</svg>", 415, "SVG"),
        BadInput("paper.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", 415,
                 "PDF"),
        BadInput("figure.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", 415,
                 "accepted format"),
        BadInput("noise.bin", bytes(range(256)) * 4, 415, "accepted format"),
        BadInput("bomb.png", png_header_only(100_000, 100_000), 400, "pixel"),
        BadInput("big-header.png", png_header_only(9_000, 8_000), 400, "pixel"),
    ]
