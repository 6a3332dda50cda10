"""Projector: optional pixel-shuffle token reduction, then linear or MLP into the LM's width."""

from __future__ import annotations

import math

import torch
from torch import nn

from distilvit.config import ProjectorConfig


def pixel_shuffle(features: torch.Tensor, factor: int) -> torch.Tensor:
    """[B, g*g, D] -> [B, (g/k)^2, k*k*D]: each k x k block of patches becomes one token.

    Token reduction as in SmolVLM / nanoVLM: 196 patches -> 49 tokens at k=2, with no loss of
    information (the channels grow by k*k).
    """
    if factor == 1:
        return features
    batch, tokens, dim = features.shape
    side = math.isqrt(tokens)
    out = side // factor
    x = features.reshape(batch, out, factor, out, factor, dim)
    x = x.permute(0, 1, 3, 2, 4, 5)
    return x.reshape(batch, out * out, factor * factor * dim)


def check_grid(num_patches: int, factor: int) -> None:
    side = math.isqrt(num_patches)
    if side * side != num_patches or side % factor:
        raise ValueError(
            f"pixel_shuffle_factor {factor} does not divide the {side}x{side} patch grid "
            f"({num_patches} patches); pick a factor that divides {side}")


class Projector(nn.Module):
    def __init__(self, config: ProjectorConfig, vision_size: int, lm_size: int):
        super().__init__()
        self.factor = config.pixel_shuffle_factor
        in_size = vision_size * self.factor**2
        if config.type == "linear":
            self.net = nn.Linear(in_size, lm_size)
        elif config.type == "mlp":
            hidden = config.hidden_size or lm_size
            self.net = nn.Sequential(nn.Linear(in_size, hidden), nn.GELU(),
                                     nn.Linear(hidden, lm_size))
        else:
            raise ValueError(f"unknown projector type {config.type!r} (linear or mlp)")

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(pixel_shuffle(features, self.factor))
