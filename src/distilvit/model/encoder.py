"""Vision tower: any Hugging Face vision model; we keep its patch sequence and nothing else."""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import AutoConfig, AutoImageProcessor, AutoModel, PreTrainedModel

from distilvit.config import EncoderConfig
from distilvit.model.blocks import transformer_layers
from distilvit.model.loading import load_or_explain


def _vision_class(model_type: str) -> type[PreTrainedModel] | None:
    """Vision-only classes for dual towers, so the text half is never loaded."""
    import transformers

    names = {
        "siglip": "SiglipVisionModel",
        "siglip_vision_model": "SiglipVisionModel",
        "siglip2": "Siglip2VisionModel",
        "siglip2_vision_model": "Siglip2VisionModel",
        "clip": "CLIPVisionModel",
        "clip_vision_model": "CLIPVisionModel",
    }
    name = names.get(model_type)
    return getattr(transformers, name) if name else None


def load_vision_tower(path: str, trust_remote_code: bool = False) -> PreTrainedModel:
    config = load_or_explain("vision config", path, lambda: AutoConfig.from_pretrained(
        path, trust_remote_code=trust_remote_code))
    cls = _vision_class(config.model_type)
    kwargs = {"trust_remote_code": trust_remote_code}
    if cls is not None and config.model_type.startswith("siglip"):
        # The MAP pooling head is never used: drop it instead of computing it every step.
        kwargs["vision_use_head"] = False
    loader = cls.from_pretrained if cls is not None else AutoModel.from_pretrained
    model = load_or_explain("vision tower", path, lambda: loader(path, **kwargs))
    return getattr(model, "vision_model", model) if cls is None else model


def load_image_processor(path: str, trust_remote_code: bool = False):
    """From the SAME place as the tower, so resolution and normalisation always match it.

    The Pillow backend is asked for explicitly: it is what the torch-free runtimes reproduce,
    and it does not need torchvision.
    """
    return load_or_explain("image processor", path, lambda: AutoImageProcessor.from_pretrained(
        path, backend="pil", trust_remote_code=trust_remote_code))


class VisionEncoder(nn.Module):
    """Frozen by default; `unfreeze_last_n_layers` makes the top layers (and final norm) train."""

    def __init__(self, tower: PreTrainedModel, config: EncoderConfig):
        super().__init__()
        self.tower = tower
        self.config = config
        self.hidden_size = tower.config.hidden_size
        self.tower.requires_grad_(False)
        for module in self.trainable_modules():
            module.requires_grad_(True)
        self.train(False)

    def trainable_modules(self) -> list[nn.Module]:
        n = self.config.unfreeze_last_n_layers
        if n <= 0:
            return []
        layers = transformer_layers(self.tower)
        modules = list(layers[-n:])
        norm = getattr(self.tower, "post_layernorm", None)
        return modules + ([norm] if norm is not None else [])

    @property
    def frozen(self) -> bool:
        return self.config.unfreeze_last_n_layers <= 0

    def train(self, mode: bool = True) -> VisionEncoder:
        """A frozen tower stays in eval mode (no dropout) even while the captioner trains."""
        super().train(mode and not self.frozen)
        return self

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> patch features [B, P, D] with P a square number."""
        dtype = next(self.tower.parameters()).dtype
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            hidden = self.tower(pixel_values=pixel_values.to(dtype)).last_hidden_state
        return drop_class_tokens(hidden)


def drop_class_tokens(hidden: torch.Tensor) -> torch.Tensor:
    """CLIP-style towers prepend a CLS token; keep only the square grid of patch tokens."""
    tokens = hidden.shape[1]
    side = math.isqrt(tokens)
    extra = tokens - side * side
    return hidden[:, extra:] if extra else hidden
