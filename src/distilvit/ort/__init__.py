"""Torch-free captioning with the exported ONNX graphs (onnxruntime, numpy, tokenizers, Pillow).

    from distilvit.ort import open_captioner
    open_captioner("exported/", variant="int8").caption(["photo.jpg"])

`open_captioner` reads the folder's layout (llava -> `OnnxCaptioner`, vision-encoder-decoder
-> `VedCaptioner`); both decode the same way.

Nothing here imports torch or transformers (a test checks `sys.modules`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from distilvit.errors import ModelDirError
from distilvit.ort.files import is_exported, read_export_config

if TYPE_CHECKING:  # for the annotation only: importing it needs onnxruntime
    from distilvit.ort.captioner import OnnxCaptioner

__all__ = ["OnnxCaptioner", "VedCaptioner", "is_exported", "open_captioner"]


def open_captioner(folder: str | Path, variant: str = "fp32", threads: int = 0,
                   config: dict[str, Any] | None = None) -> OnnxCaptioner:
    """The runtime for the folder's layout; ModelDirError (one line) for anything else.

    `config`: the folder's config.json when the caller has read it already (`open_model`).
    """
    from distilvit.ort.captioner import OnnxCaptioner
    from distilvit.ort.ved import VedCaptioner

    runners = {OnnxCaptioner.layout: OnnxCaptioner, VedCaptioner.layout: VedCaptioner}
    meta = read_export_config(folder, config)
    layout = meta.get("layout", OnnxCaptioner.layout)
    if layout not in runners:
        raise ModelDirError(f"{folder}: unknown export layout {layout!r} "
                            f"(this distilvit reads {', '.join(runners)})")
    return runners[layout](folder, variant, threads, meta=meta)


def __getattr__(name: str) -> Any:
    # Lazy: `is_exported` must not need onnxruntime (the torch CLI path calls it).
    if name == "OnnxCaptioner":
        from distilvit.ort.captioner import OnnxCaptioner

        return OnnxCaptioner
    if name == "VedCaptioner":
        from distilvit.ort.ved import VedCaptioner

        return VedCaptioner
    raise AttributeError(name)
