"""One interface for a captioner, whatever runs it: torch, or ONNX Runtime (either layout).

`caption`, `eval`, `serve`, `gradio`, batch captioning and the benches open a model with
`open_model` and talk to it only through `CaptionModel`, so a new runtime is one new class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from distilvit.config import BackendConfig, GenerationConfig, InferenceConfig
from distilvit.errors import UsageError
from distilvit.images import ImageInput


@runtime_checkable
class CaptionModel(Protocol):
    """A captioner: images in, one caption each out."""

    runtime: str  # "torch" or "onnx"

    @property
    def generation(self) -> GenerationConfig:
        """The model's own default generation settings."""
        ...

    def caption(self, images: list[ImageInput],
                generation: GenerationConfig | None = None) -> list[str]:
        """One caption per image (paths, PIL images or bytes); ImageError names a bad input."""
        ...

    def describe(self) -> dict[str, Any]:
        """What `/info` and logs report: runtime, variant or device, base model names."""
        ...


def open_model(path: str | Path, backend: BackendConfig | None = None,
               inference: InferenceConfig | None = None, threads: int = 0) -> CaptionModel:
    """ONNX Runtime for a folder written by `distilvit export`, torch for a checkpoint.

    The folder's config.json is read here, once, and handed to the runtime that loads it.
    `threads`: compute threads of the runtime (0 = its default, one per core). Set it where
    several models share a machine (Ray actors), or each would start a thread per core.
    """
    from distilvit.folders import peek_config_json
    from distilvit.ort.files import is_exported

    backend = backend or BackendConfig()
    config = peek_config_json(path)
    exported = is_exported(path, config)
    kind = backend.backend if backend.backend != "auto" else ("onnx" if exported else "torch")
    if kind == "onnx":
        from distilvit.ort import open_captioner

        return open_captioner(path, backend.onnx_variant, threads, config=config or None)
    if exported:
        raise UsageError(f"{path}: an ONNX export has no torch weights; caption it with "
                         "--backend onnx (or leave --backend at auto)")
    from distilvit.model import Captioner
    from distilvit.runtime import pick_device

    device = pick_device((inference or InferenceConfig()).device)
    if threads:
        import torch

        torch.set_num_threads(threads)  # per process: torch has no per-model setting
    return Captioner.from_pretrained(path, config=config or None).to(device)
