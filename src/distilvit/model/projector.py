"""Projector: optional pixel-shuffle token reduction, then linear or MLP into the LM's width."""

from __future__ import annotations

import math

import torch
from torch import nn

from distilvit.config import ProjectorConfig
from distilvit.errors import ConfigError


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
        raise ConfigError(
            f"--pixel-shuffle-factor {factor} does not divide the vision tower's {side}x{side} "
            f"patch grid ({num_patches} patches); pick a factor that divides {side}")


class FeatureStandardizer(nn.Module):
    """(x - mean) / std per patch position and channel, with statistics of the training set.

    A tiny tower pretrained for minutes puts most of each patch feature in a per-position
    constant (position embeddings, background) and little in what the image shows: the
    image-dependent part was ~5% of the feature's spread on the shipped tiny tower, and a
    projector + LoRA fed raw features could not even memorise 64 captions. Standardising
    with frozen statistics (saved with the projector) makes the content the signal. Towers
    pretrained at scale (SigLIP) do not need it.
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.zeros(0))
        self.register_buffer("std", torch.ones(0))

    @torch.no_grad()
    def fit(self, features: torch.Tensor) -> None:
        """features [N, P, D] from the training set."""
        features = features.float()
        std = features.std(0)
        self.mean = features.mean(0)
        # a floor for constant positions/channels (never divide by ~0)
        self.std = std.clamp_min(1e-2 * float(std.median()) + 1e-12)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.mean.numel() == 0:
            raise RuntimeError("feature statistics were never fitted (FeatureStandardizer.fit)")
        return (features - self.mean.to(features.dtype)) / self.std.to(features.dtype)


class Projector(nn.Module):
    def __init__(self, config: ProjectorConfig, vision_size: int, lm_size: int,
                 num_patches: int | None = None):
        super().__init__()
        self.standardizer = FeatureStandardizer() if config.standardize else None
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
        self.position = None
        if config.position_embedding:
            if not num_patches:
                raise ValueError("position_embedding needs the vision tower's patch count")
            self.position = nn.Parameter(torch.zeros(num_patches // self.factor**2, lm_size))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.standardizer is not None:
            features = self.standardizer(features)
        tokens = self.net(pixel_shuffle(features, self.factor))
        return tokens if self.position is None else tokens + self.position.to(tokens.dtype)
