"""Captioner: projected image features are the language model's prompt (prefix conditioning)."""

from __future__ import annotations

import copy
import dataclasses
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from distilvit.config import CaptionerConfig, GenerationConfig
from distilvit.images import ImageInput, load_image
from distilvit.model import checkpoint
from distilvit.model.decoder import (
    backbone,
    check_positions,
    load_language_model,
    load_tokenizer,
)
from distilvit.model.encoder import VisionEncoder, load_image_processor, load_vision_tower
from distilvit.model.loading import resolve
from distilvit.model.lora import add_lora, causal_lm
from distilvit.model.projector import Projector, check_grid
from distilvit.model.roles import LORA, PROJECTOR, parameter_role
from distilvit.sequence import IGNORE_INDEX, SequenceFormat


@dataclass
class CaptionerOutput:
    loss: torch.Tensor | None
    logits: torch.Tensor  # [num_labelled_positions, vocab]: only where labels exist
    prefix: torch.Tensor | None = None  # [B, N, D]: the image prefix (for auxiliary losses)


class Captioner(nn.Module):
    runtime = "torch"  # distilvit.caption_model.CaptionModel

    def __init__(self, config: CaptionerConfig, encoder: VisionEncoder, lm: nn.Module,
                 tokenizer: Any, image_processor: Any):
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.lm = lm
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        lm_size = causal_lm(lm).config.hidden_size
        num_patches = _encoder_patches(encoder)
        if num_patches:
            factor = config.projector.pixel_shuffle_factor
            check_grid(num_patches, factor)
            # [prefix][separator][caption or generated tokens], checked before anything is built
            longest = max(config.max_length, config.generation.max_new_tokens)
            check_positions(causal_lm(lm), num_patches // factor**2 + 1 + longest,
                            "--max-length or --max-new-tokens")
        self.projector = Projector(config.projector, encoder.hidden_size, lm_size, num_patches)
        self.format = SequenceFormat.from_tokenizer(tokenizer, config.max_length,
                                                    config.separator_token)

    # ----- construction ---------------------------------------------------------------
    @classmethod
    def build(cls, config: CaptionerConfig, base_dir: str | Path | None = None,
              assets_dir: str | Path | None = None) -> Captioner:
        """Load the base models named in `config` and add a fresh projector and LoRA.

        `base_dir` resolves relative model paths (merged checkpoints); `assets_dir` holds
        the saved tokenizer and image processor of a checkpoint (else: the base models').
        """
        config = copy.deepcopy(config)  # never mutate the caller's config
        remote = config.trust_remote_code
        encoder_path = resolve(config.encoder.name_or_path, base_dir)
        decoder_path = resolve(config.decoder.name_or_path, base_dir)
        tower = load_vision_tower(encoder_path, remote)
        processor = load_image_processor(str(assets_dir or encoder_path), remote)
        tokenizer = load_tokenizer(str(assets_dir or decoder_path), remote)
        lm = add_lora(load_language_model(decoder_path, remote), config.lora)
        return cls(config, VisionEncoder(tower, config.encoder), lm, tokenizer, processor)

    @classmethod
    def from_pretrained(cls, model_dir: str | Path,
                        config: dict[str, Any] | None = None) -> Captioner:
        """A checkpoint (or merged folder); a one-line ModelDirError when it is not one.

        `config`: the folder's config.json when the caller has read it (`open_model`).
        """
        config = checkpoint.read_config(model_dir, config)
        weights = checkpoint.weights_path(model_dir)
        model = cls.build(config, base_dir=model_dir, assets_dir=model_dir)
        checkpoint.load_weights(model, weights)
        return model.eval()

    def save_pretrained(self, model_dir: str | Path) -> None:
        checkpoint.save_captioner(self, model_dir)

    # ----- parameters -----------------------------------------------------------------
    def trainable_parameters(self) -> dict[str, nn.Parameter]:
        """Projector + LoRA + unfrozen vision layers, by name: what training updates and saves."""
        unfrozen = {id(p) for m in self.encoder.trainable_modules() for p in m.parameters()}
        return {name: param for name, param in self.named_parameters()
                if parameter_role(name) in (PROJECTOR, LORA) or id(param) in unfrozen}

    def checkpoint_tensors(self) -> dict[str, torch.Tensor]:
        """What a checkpoint stores: the trainable parameters and the projector's buffers."""
        buffers = {f"projector.{n}": b for n, b in self.projector.named_buffers()}
        return {**self.trainable_parameters(), **buffers}

    def num_parameters(self) -> tuple[int, int]:
        """(trainable, total), counting shared tensors once."""
        total = {id(p): p.numel() for p in self.parameters()}
        trainable = {id(p): p.numel() for p in self.trainable_parameters().values()}
        return sum(trainable.values()), sum(total.values())

    @property
    def device(self) -> torch.device:
        return next(self.projector.parameters()).device

    # ----- forward --------------------------------------------------------------------
    def image_prefix(self, pixel_values: torch.Tensor | None = None,
                     image_features: torch.Tensor | None = None) -> torch.Tensor:
        """Prefix embeddings [B, N, D_lm] from pixels, or from cached encoder features."""
        if image_features is None:
            if pixel_values is None:
                raise ValueError("pass pixel_values or image_features")
            image_features = self.encoder(pixel_values.to(self.device))
        proj_dtype = next(self.projector.parameters()).dtype
        return self.projector(image_features.to(self.device, proj_dtype))

    def embed_tokens(self, input_ids: torch.Tensor) -> torch.Tensor:
        return causal_lm(self.lm).get_input_embeddings()(input_ids)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor | None = None, pixel_values: torch.Tensor | None = None,
                image_features: torch.Tensor | None = None) -> CaptionerOutput:
        """Caption loss, with LM-head logits computed only at labelled positions."""
        prefix = self.image_prefix(pixel_values, image_features)
        hidden = self.hidden_states(prefix, input_ids, attention_mask)
        text_hidden = hidden[:, prefix.shape[1]:]
        if labels is None:
            logits = causal_lm(self.lm).get_output_embeddings()(text_hidden)
            return CaptionerOutput(None, logits, prefix)
        selected = labels != IGNORE_INDEX
        logits = causal_lm(self.lm).get_output_embeddings()(text_hidden[selected])
        loss = F.cross_entropy(logits.float(), labels[selected])
        return CaptionerOutput(loss, logits, prefix)

    def hidden_states(self, prefix: torch.Tensor, input_ids: torch.Tensor,
                      attention_mask: torch.Tensor) -> torch.Tensor:
        text = self.embed_tokens(input_ids.to(self.device))
        embeds = torch.cat([prefix.to(text.dtype), text], dim=1)
        # Padding is only ever on the right, after every real token, so causal attention
        # already keeps real tokens from seeing it (and padded positions are never labelled):
        # no mask lets attention take its fast causal path.
        mask = None if _right_padded(attention_mask) else torch.cat(
            [torch.ones(prefix.shape[:2], dtype=attention_mask.dtype, device=self.device),
             attention_mask.to(self.device)], dim=1)
        out = backbone(causal_lm(self.lm))(inputs_embeds=embeds, attention_mask=mask,
                                           use_cache=False)
        return out.last_hidden_state

    # ----- inference ------------------------------------------------------------------
    def preprocess(self, images: list[ImageInput]) -> torch.Tensor:
        rgb = [load_image(image) for image in images]
        return self.image_processor(images=rgb, return_tensors="pt")["pixel_values"]

    # ----- the frozen-feature cache (distilvit.data.features.FeatureEncoder) -------------
    @property
    def features_frozen(self) -> bool:
        return self.encoder.frozen

    def feature_identity(self, precision: str) -> str:
        """The tower's name, config and image processor, and the precision."""
        parts = [self.config.encoder.name_or_path, self.encoder.tower.config.to_json_string(),
                 self.image_processor.to_json_string(), precision]
        return "\n".join(parts)

    @torch.inference_mode()
    def encode_images(self, images: list[ImageInput], precision: str = "fp32") -> np.ndarray:
        """The tower's patch features [B, P, D] as float32 numpy."""
        pixels = self.preprocess(images).to(self.device)
        autocast = (torch.autocast(self.device.type, dtype=torch.bfloat16)
                    if precision == "bf16" else nullcontext())
        with autocast:
            return self.encoder(pixels).float().cpu().numpy()

    @property
    def generation(self) -> GenerationConfig:
        return self.config.generation

    def describe(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "device": str(self.device),
                "base_models": {"vision": self.config.encoder.name_or_path,
                                "language": self.config.decoder.name_or_path}}

    @torch.inference_mode()
    def caption(self, images: ImageInput | list[ImageInput],
                generation: GenerationConfig | None = None, **overrides: Any) -> list[str]:
        """Captions for paths, PIL images or bytes; raises ImageError naming a bad input."""
        from distilvit.generate import generate_captions

        batch = images if isinstance(images, list) else [images]
        gen = dataclasses.replace(generation or self.config.generation, **overrides)
        return generate_captions(self, self.preprocess(batch), gen)


def _right_padded(mask: torch.Tensor) -> bool:
    """True when each row is ones then zeros (never a zero before a one)."""
    return bool((mask[:, 1:] <= mask[:, :-1]).all())


def _encoder_patches(encoder: VisionEncoder) -> int | None:
    """Patches per image from the tower's config (None when it does not say)."""
    cfg = encoder.tower.config
    size, patch = getattr(cfg, "image_size", None), getattr(cfg, "patch_size", None)
    if isinstance(size, int) and isinstance(patch, int) and patch > 0:
        return (size // patch) ** 2
    return None


def merge_checkpoint(model_dir: str | Path, output_dir: str | Path) -> Path:
    """`distilvit merge`: the checkpoint with LoRA folded in and both bases saved inside."""
    return checkpoint.save_merged(Captioner.from_pretrained(model_dir), output_dir)
