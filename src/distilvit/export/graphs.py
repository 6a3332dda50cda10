"""The three exported graphs as plain tensor-in, tensor-out modules.

transformers 5 passes the KV cache as a `Cache` object (`to_legacy_cache` is gone); the
exporter needs flat tensors, so `DecoderGraph` builds a `DynamicCache` from the
`past_key_values.{i}.key/value` inputs and flattens the updated cache into `present.{i}.*`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import DynamicCache, PreTrainedModel

from distilvit.errors import UsageError

# Families whose export is tested (tests/test_export.py); others are refused by name.
SUPPORTED_FAMILIES = ("llama", "qwen2", "phi3", "gpt2")


@dataclass(frozen=True)
class LMShape:
    family: str
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    hidden_size: int
    vocab_size: int

    @classmethod
    def of(cls, lm: PreTrainedModel) -> LMShape:
        cfg = lm.config.get_text_config(decoder=True)
        family = cfg.model_type
        if family not in SUPPORTED_FAMILIES:
            raise UsageError(f"cannot export a {family!r} language model: ONNX export supports "
                             f"{', '.join(SUPPORTED_FAMILIES)}")
        heads = cfg.num_attention_heads
        hidden = cfg.hidden_size
        return cls(family=family, num_layers=cfg.num_hidden_layers, num_heads=heads,
                   num_kv_heads=getattr(cfg, "num_key_value_heads", None) or heads,
                   head_dim=getattr(cfg, "head_dim", None) or hidden // heads,
                   hidden_size=hidden, vocab_size=lm.get_input_embeddings().num_embeddings)

    def cache_names(self, prefix: str) -> list[str]:
        """`past_key_values.{i}.key/value` or `present.{i}.key/value`, layer by layer."""
        return [f"{prefix}.{i}.{kind}" for i in range(self.num_layers)
                for kind in ("key", "value")]


class MatMulConv1D(nn.Module):
    """GPT-2's `Conv1D` (x @ W + b) as MatMul + Add: traced as is, it becomes a Gemm, which
    the INT8 and 4-bit recipes (MatMul weights only) would leave in fp32."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.weight, self.bias = conv.weight, conv.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(x, self.weight) + self.bias


def conv1d_as_matmul(module: nn.Module) -> nn.Module:
    """Every `Conv1D` under `module` replaced in place by `MatMulConv1D` (same weights)."""
    for name, child in module.named_children():
        if type(child).__name__ == "Conv1D":
            setattr(module, name, MatMulConv1D(child))
        else:
            conv1d_as_matmul(child)
    return module


class VisionGraph(nn.Module):
    """pixel_values [B, 3, H, W] -> image_features [B, N, D_lm]: tower, pixel shuffle, projector."""

    def __init__(self, encoder: nn.Module, projector: nn.Module):
        super().__init__()
        self.encoder, self.projector = encoder, projector

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(pixel_values))


class EmbedGraph(nn.Module):
    """input_ids [B, T] -> inputs_embeds [B, T, D]: the LM's input embedding table.

    `rows` may exceed the table: the `<image>` placeholder that transformers.js's LLaVA
    processor puts in the prompt needs an id, and when the vocabulary is full that id is one
    past the end. Its row is zeros and is never used (the image features replace it).
    """

    def __init__(self, embedding: nn.Embedding, rows: int):
        super().__init__()
        weight = embedding.weight.detach()
        extra = max(0, rows - weight.shape[0])
        self.weight = nn.Parameter(F.pad(weight, (0, 0, 0, extra)), requires_grad=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(input_ids, self.weight)


class DecoderGraph(nn.Module):
    """inputs_embeds, attention_mask, position_ids, past... -> last logits, present...

    One graph for the prompt (past length 0) and every later step. Only the last position's
    logits are computed (`logits_to_keep=1`): generation reads nothing else, and the LM head
    over the N-token image prefix would be the costliest matmul of the prompt step.
    """

    def __init__(self, lm: PreTrainedModel, shape: LMShape):
        super().__init__()
        self.lm, self.shape = lm, shape

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                position_ids: torch.Tensor, *past: torch.Tensor) -> tuple[torch.Tensor, ...]:
        pairs = [(past[2 * i], past[2 * i + 1]) for i in range(self.shape.num_layers)]
        cache = DynamicCache(ddp_cache_data=pairs)
        out = self.lm(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                      position_ids=position_ids, cache=cache, use_cache=True,
                      logits_to_keep=1)
        present = []
        for layer in out.cache.layers:
            present += [layer.keys, layer.values]
        return (out.logits, *present)
