"""AdamW with one parameter group per part, and warmup + cosine decay."""

from __future__ import annotations

import math

import torch

from distilvit.config import TrainConfig
from distilvit.model.roles import LORA, OTHER, PROJECTOR, ROLES, VISION, parameter_role


def parameter_groups(model, cfg: TrainConfig) -> list[dict]:
    """Projector, LoRA and unfrozen vision layers each get their own learning rate."""
    groups: dict[str, list] = {role: [] for role in ROLES}
    for name, param in model.trainable_parameters().items():
        groups[parameter_role(name)].append(param)
    rates = {PROJECTOR: cfg.projection_lr, LORA: cfg.lora_lr, VISION: cfg.vision_lr,
             OTHER: cfg.projection_lr}
    return [{"name": k, "params": v, "lr": rates[k]} for k, v in groups.items() if v]


def build_optimizer(model, cfg: TrainConfig, clip_loss=None) -> torch.optim.AdamW:
    groups = parameter_groups(model, cfg)
    if clip_loss is not None:  # the alignment head trains with the projector's rate
        groups.append({"name": "clip_head", "params": list(clip_loss.head.parameters()),
                       "lr": cfg.projection_lr})
    return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)


def warmup_cosine(optimizer, total_steps: int, warmup_ratio: float):
    warmup = max(1, int(total_steps * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
