"""AdamW with one parameter group per part, and warmup + cosine decay."""

from __future__ import annotations

import warnings

import torch
from transformers import get_cosine_schedule_with_warmup

from distilvit.config import OptimConfig
from distilvit.model.roles import LORA, OTHER, PROJECTOR, ROLES, VISION, parameter_role


def parameter_groups(model, cfg: OptimConfig) -> list[dict]:
    """Projector, LoRA and unfrozen vision layers each get their own learning rate."""
    groups: dict[str, list] = {role: [] for role in ROLES}
    for name, param in model.trainable_parameters().items():
        groups[parameter_role(name)].append(param)
    rates = {PROJECTOR: cfg.projection_lr, LORA: cfg.lora_lr, VISION: cfg.vision_lr,
             OTHER: cfg.projection_lr}
    return [{"name": k, "params": v, "lr": rates[k]} for k, v in groups.items() if v]


def build_optimizer(model, cfg: OptimConfig, clip_loss=None) -> torch.optim.AdamW:
    groups = parameter_groups(model, cfg)
    if clip_loss is not None:  # the alignment head trains with the projector's rate
        groups.append({"name": "clip_head", "params": list(clip_loss.head.parameters()),
                       "lr": cfg.projection_lr})
    return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)


def warmup_cosine(optimizer, total_steps: int, warmup_ratio: float):
    """Linear warmup over `warmup_ratio` of the steps, then cosine decay (transformers').

    transformers' schedule starts at lr 0 (its factor at step s is s / warmup), which would
    make the first update a no-op: a one-step run would not train at all. Ours advances it one
    step at the start, so update k uses factor (k + 1) / warmup while warming up, the peak
    lands on update warmup - 1, and the decay spans total_steps + 1 so the last update keeps a
    non-zero rate.
    """
    warmup = max(1, int(total_steps * warmup_ratio))
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, total_steps + 1)
    with warnings.catch_warnings():  # stepping before any update is the point here
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
        scheduler.step()
    return scheduler
