"""The optional CLIP alignment loss.

A contrastive (InfoNCE, as in CLIP: Radford et al. 2021, fig. 3) term between the projected
image prefix, mean-pooled through a small trainable head, and the frozen CLIP/SigLIP text
embedding of each image's reference caption. It is differentiable in the prefix, so its
gradient reaches the projector. (The original implementation scored sampled captions under
no_grad: a constant with zero gradient.) Nothing is loaded when the weight is 0.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoTokenizer

from distilvit.model.loading import load_or_explain

logger = logging.getLogger(__name__)
MAX_TEXT_TOKENS = 64


def _text_features(output) -> torch.Tensor:
    """transformers 5 returns an output object from get_text_features; 4.x a tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class ClipAlignmentLoss(nn.Module):
    def __init__(self, clip_model: str, prefix_size: int, weight: float,
                 temperature: float = 0.07):
        super().__init__()
        self.weight, self.temperature = weight, temperature
        self.clip = load_or_explain("CLIP model", clip_model,
                                    lambda: AutoModel.from_pretrained(clip_model))
        self.tokenizer = load_or_explain("CLIP tokenizer", clip_model,
                                         lambda: AutoTokenizer.from_pretrained(clip_model))
        self.clip.requires_grad_(False).eval()
        text_size = self.text_embeddings(["a photo"], torch.device("cpu")).shape[-1]
        self.head = nn.Linear(prefix_size, text_size)

    def train(self, mode: bool = True) -> ClipAlignmentLoss:
        super().train(mode)
        self.clip.eval()  # frozen: never dropout
        return self

    @torch.no_grad()
    def text_embeddings(self, captions: list[str], device: torch.device) -> torch.Tensor:
        padding = "max_length" if self.clip.config.model_type.startswith("siglip") else True
        tokens = self.tokenizer(captions, padding=padding, truncation=True,
                                max_length=MAX_TEXT_TOKENS, return_tensors="pt").to(device)
        kwargs = {"input_ids": tokens["input_ids"]}
        if "attention_mask" in tokens and padding is True:
            kwargs["attention_mask"] = tokens["attention_mask"]
        return _text_features(self.clip.get_text_features(**kwargs)).float()

    def forward(self, prefix: torch.Tensor, captions: list[str]) -> torch.Tensor:
        image = F.normalize(self.head(prefix.float().mean(dim=1)), dim=-1)
        text = F.normalize(self.text_embeddings(captions, prefix.device), dim=-1)
        logits = image @ text.T / self.temperature
        targets = torch.arange(len(captions), device=prefix.device)
        loss = (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
        return self.weight * loss


def build_clip_loss(weight: float, clip_model: str, prefix_size: int) -> ClipAlignmentLoss | None:
    if weight <= 0:
        return None
    logger.info("CLIP alignment loss: weight %s, text tower %s", weight, clip_model)
    return ClipAlignmentLoss(clip_model, prefix_size, weight)
