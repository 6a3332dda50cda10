"""Serving configs: the one source of the server's defaults, limits and batching knobs.

`distilvit serve` and `distilvit gradio` derive their flags from these dataclasses (see
`distilvit.cli_args`), and `/info` reports them, so a client can read the limits it is held to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from distilvit.images import MAX_PIXELS
from distilvit.options import check_fields, require
from distilvit.options import option as _help

# Formats Pillow decodes natively and that cameras, browsers and screenshots produce. Pillow
# knows many more (EPS shells out to Ghostscript, some have a history of decoder bugs): a
# server should only open what it means to accept.
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")


@dataclass
class LimitsConfig:
    """What one request may ask for; anything beyond is refused with a 4xx and a JSON error."""

    max_upload_mb: float = field(
        default=10.0, metadata=_help("largest request body in MB (413 above it; base64 JSON "
                                     "bodies are ~4/3 of the image bytes)", above=0))
    max_pixels: int = field(
        default=MAX_PIXELS, metadata=_help("largest image in pixels, read from its header "
                                           "before decoding (decompression-bomb guard)", at_least=1))
    max_images: int = field(default=8, metadata=_help("images per request", at_least=1))
    max_num_beams: int = field(default=4, metadata=_help("largest num_beams a client may ask",
                                                         at_least=1))
    max_new_tokens_limit: int = field(
        default=64, metadata=_help("largest max_new_tokens a client may ask", at_least=1))
    formats: tuple[str, ...] = field(
        default=IMAGE_FORMATS, metadata=_help("image formats accepted (Pillow names); others "
                                              "get 415"))
    request_timeout_s: float = field(
        default=60.0, metadata=_help("longest wait for a caption before answering 503",
                                     above=0))

    def __post_init__(self) -> None:
        check_fields(self)
        require(bool(self.formats), "--formats needs at least one image format (e.g. PNG)")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


@dataclass
class BatchConfig:
    """Micro-batching: concurrent requests share one model call."""

    max_batch_size: int = field(
        default=16, metadata=_help("images per model call (1 = no batching)", at_least=1))
    max_wait_ms: float = field(
        default=5.0, metadata=_help("longest an idle model waits for a batch to fill",
                                    at_least=0))
    queue_size: int = field(
        default=64, metadata=_help("images waiting at most; beyond it requests get 503 with "
                                   "Retry-After", at_least=1))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class ServeConfig:
    """`distilvit serve`: where to listen and how many threads/processes answer."""

    host: str = field(default="127.0.0.1", metadata=_help("interface to listen on"))
    port: int = field(default=5000, metadata=_help("TCP port (0 = any free port)", at_least=0,
                                                   at_most=65535))
    threads: int = field(
        default=32, metadata=_help("request threads per process (they mostly wait on the "
                                   "batch queue; more threads let bigger batches form)",
                                   at_least=1))
    workers: int = field(
        default=1, metadata=_help("processes; 1 runs waitress (threaded, one process), more "
                                  "run gunicorn, each process with its own model copy",
                                  at_least=1))
    cors: str = field(
        default="", metadata=_help("allow cross-origin calls from this origin, e.g. "
                                   "https://example.org ('' = CORS off)"))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class GradioConfig:
    """`distilvit gradio`: the demo's address."""

    host: str = field(default="127.0.0.1", metadata=_help("interface to listen on"))
    port: int = field(default=7860, metadata=_help("TCP port", at_least=0, at_most=65535))
    examples: int = field(
        default=6, metadata=_help("example images drawn from the synthetic shapes test split",
                                  at_least=0))

    def __post_init__(self) -> None:
        check_fields(self)
