"""Torch-free captioning with the exported ONNX graphs (onnxruntime, numpy, tokenizers, Pillow).

    from distilvit.ort import OnnxCaptioner
    OnnxCaptioner("exported/", variant="int8").caption(["photo.jpg"])

Nothing here imports torch or transformers (a test checks `sys.modules`).
"""

from __future__ import annotations

from typing import Any

from distilvit.ort.files import is_exported

__all__ = ["OnnxCaptioner", "is_exported"]


def __getattr__(name: str) -> Any:
    # Lazy: `is_exported` must not need onnxruntime (the torch CLI path calls it).
    if name == "OnnxCaptioner":
        from distilvit.ort.captioner import OnnxCaptioner

        return OnnxCaptioner
    raise AttributeError(name)
