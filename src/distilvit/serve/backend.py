"""The model behind the servers: ONNX Runtime (an exported folder) or torch (a checkpoint).

Both captioners take a list of RGB images and a GenerationConfig and return one caption per
image; this adapter adds what the servers report about them (`/info`). Loading goes through
`distilvit.backends.load_model`, so `--backend auto|onnx|torch` means the same everywhere.
The onnx path imports neither torch nor transformers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from distilvit.config import BackendConfig, GenerationConfig, InferenceConfig


@dataclass
class Backend:
    name: str  # "onnx" or "torch"
    model: Any  # OnnxCaptioner or Captioner: .caption(images, generation) -> list[str]
    defaults: GenerationConfig  # the model's own generation settings
    description: dict[str, Any]

    def caption(self, images: list[Image.Image], generation: GenerationConfig) -> list[str]:
        return self.model.caption(images, generation)

    def generation(self, **options: Any) -> GenerationConfig:
        """The model's defaults with a request's options (already checked) applied."""
        return dataclasses.replace(self.defaults, **options)


def load_backend(model_dir: str | Path, backend: BackendConfig | None = None,
                 inference: InferenceConfig | None = None) -> Backend:
    """Load MODEL_DIR with the chosen runtime; a bad folder raises a one-line ModelDirError."""
    from distilvit.backends import load_model

    backend = backend or BackendConfig()
    model, defaults = load_model(str(model_dir), backend, inference or InferenceConfig())
    if type(model).__module__.startswith("distilvit.ort"):  # OnnxCaptioner
        name, captioner = "onnx", model.meta.get("captioner", {})
        extra = {"variant": model.variant, "layout": model.layout}
    else:
        name, captioner = "torch", dataclasses.asdict(model.config)
        extra = {"device": str(model.device)}
    description = {"model": Path(model_dir).resolve().name, "backend": name, **extra,
                   "base_models": _base_models(captioner)}
    return Backend(name, model, defaults, description)


def _base_models(captioner: dict[str, Any]) -> dict[str, str]:
    return {"vision": captioner.get("encoder", {}).get("name_or_path", "unknown"),
            "language": captioner.get("decoder", {}).get("name_or_path", "unknown")}
