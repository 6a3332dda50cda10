"""The model behind the servers: any `CaptionModel` (ONNX Runtime export or torch checkpoint).

`open_model` loads it, so `--backend auto|onnx|torch` means the same in `caption`, `eval`,
the REST server and the Gradio app; this adapter adds what the servers report about it
(`/info`): the folder's name and the model's own `describe()`. The onnx path imports neither
torch nor transformers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distilvit.caption_model import CaptionModel, open_model
from distilvit.config import BackendConfig, GenerationConfig, InferenceConfig
from distilvit.images import ImageInput


@dataclass
class Backend:
    model: CaptionModel
    description: dict[str, Any]  # `/info`: model, backend, variant/layout or device, bases

    @property
    def defaults(self) -> GenerationConfig:
        """The model's own generation settings."""
        return self.model.generation

    def caption(self, images: list[ImageInput], generation: GenerationConfig) -> list[str]:
        return self.model.caption(images, generation)

    def generation(self, **options: Any) -> GenerationConfig:
        """The model's defaults with a request's options (already checked) applied."""
        return dataclasses.replace(self.defaults, **options)


def serve_model(model: CaptionModel, model_dir: str | Path) -> Backend:
    """Wrap an opened model; `/info` names the folder and the runtime as `backend`."""
    described = dict(model.describe())
    runtime = described.pop("runtime", model.runtime)
    description = {"model": Path(model_dir).resolve().name, "backend": runtime, **described}
    return Backend(model, description)


def load_backend(model_dir: str | Path, backend: BackendConfig | None = None,
                 inference: InferenceConfig | None = None) -> Backend:
    """Load MODEL_DIR with the chosen runtime; a bad folder raises a one-line ModelDirError."""
    return serve_model(open_model(model_dir, backend, inference), model_dir)
