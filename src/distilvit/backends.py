"""Opening a model folder for captioning: ONNX Runtime for an export, torch otherwise.

One place, so `--backend auto|onnx|torch` means the same in `distilvit caption`, the REST
server and the Gradio app.
"""

from __future__ import annotations

from distilvit.config import BackendConfig, InferenceConfig
from distilvit.errors import UsageError


def load_model(model_dir: str, backend: BackendConfig, inference: InferenceConfig):
    """(model, its generation defaults): ONNX Runtime for an exported folder, else torch."""
    from distilvit.ort.files import is_exported

    exported = is_exported(model_dir)
    kind = backend.backend if backend.backend != "auto" else ("onnx" if exported else "torch")
    if kind == "onnx":
        from distilvit.ort import open_captioner

        model = open_captioner(model_dir, backend.onnx_variant)
        return model, model.generation
    if exported:
        raise UsageError(f"{model_dir}: an ONNX export has no torch weights; caption it with "
                         "--backend onnx (or leave --backend at auto)")
    from distilvit.model import Captioner
    from distilvit.runtime import pick_device

    model = Captioner.from_pretrained(model_dir).to(pick_device(inference.device))
    return model, model.config.generation
