"""A training run end to end: model from a preset, data (with the feature cache), fit, test."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from distilvit.config import CaptionerConfig, DataConfig, RuntimeConfig, TrainConfig
from distilvit.data.features import CaptionData, DataSpec, load_split
from distilvit.data.registry import check_sources
from distilvit.model import Captioner
from distilvit.model.lora import causal_lm
from distilvit.runtime import pick_device, resolve_precision, seed_everything
from distilvit.train.distributed import barrier, device_for, init_world
from distilvit.train.loop import Trainer, prepare_for_training, total_steps
from distilvit.train.losses import build_clip_loss
from distilvit.train.trackers import check_trackers

logger = logging.getLogger(__name__)


def data_spec(cfg: DataConfig, split: str, sample: int | None = None) -> DataSpec:
    return DataSpec(datasets=tuple(cfg.dataset), split=split,
                    sample=cfg.sample if sample is None else sample, seed=cfg.seed,
                    path=cfg.dataset_path)


def prepare(model: Captioner, cfg: DataConfig, runtime: RuntimeConfig, precision: str,
            val_samples: int) -> tuple[CaptionData, CaptionData]:
    cache = runtime.cache_dir if runtime.feature_cache else None
    train = load_split(model, data_spec(cfg, "train"), cache, precision)
    val = load_split(model, data_spec(cfg, "validation", val_samples), cache, precision)
    if not len(train):
        raise ValueError(f"no training examples in {', '.join(cfg.dataset)}")
    logger.info("%d training images, %d validation images", len(train), len(val))
    return train, val


@torch.no_grad()
def fit_feature_statistics(model: Captioner, data: CaptionData, limit: int = 4096) -> None:
    """Fit the projector's feature standardiser (when it has one) on training images."""
    standardizer = model.projector.standardizer
    if standardizer is None:
        return
    rows = list(range(min(limit, len(data))))
    chunks = []
    for start in range(0, len(rows), 256):
        inputs = data.model_inputs(model, rows[start:start + 256])
        if "image_features" in inputs:
            chunks.append(inputs["image_features"].float())
        else:
            chunks.append(model.encoder(inputs["pixel_values"].to(model.device)).float().cpu())
    standardizer.fit(torch.cat(chunks).to(model.device))
    logger.info("feature statistics fitted on %d training images", len(rows))


def train(cfg: TrainConfig, model_config: CaptionerConfig) -> dict[str, Any]:
    """Fit and save the best model to `cfg.output_dir`; returns the run's summary.

    Under torchrun every process runs this; rank 0 fills the feature cache first and alone
    writes checkpoints and logs.
    """
    world = init_world()
    # before the model is built and minutes of data loading:
    check_sources(cfg.data.dataset, cfg.data.dataset_path)
    check_trackers(cfg.checkpointing.report_to)
    seed_everything(cfg.data.seed)
    device = pick_device(device_for(world, cfg.runtime.device))
    precision = resolve_precision(cfg.runtime.precision, device)
    model = Captioner.build(model_config).to(device)
    trainable, total = model.num_parameters()
    logger.info("trainable parameters: %d of %d (%.2f%%)", trainable, total,
                100 * trainable / total)
    if not world.is_main:
        barrier(world)  # wait for rank 0 to fill the feature cache
    train_data, val_data = prepare(model, cfg.data, cfg.runtime, precision,
                                   cfg.checkpointing.eval_samples)
    if world.is_main:
        barrier(world)
    fit_feature_statistics(model, train_data)
    lm_size = causal_lm(model.lm).config.hidden_size
    clip_loss = build_clip_loss(cfg.optim.clip_loss_weight, cfg.optim.clip_model, lm_size)
    if clip_loss is not None:
        clip_loss.to(device)
    # The speed settings change the model in place: a step of their own, logged, not hidden
    # inside the Trainer.
    steps = total_steps(len(train_data), cfg.optim, world)
    compiler = prepare_for_training(model, precision, cfg.runtime.compile, steps)
    summary = Trainer(model, train_data, val_data, cfg, precision, clip_loss, world,
                      compiler).fit()
    barrier(world)
    summary.update({"world_size": world.size, "is_main": world.is_main,
                    "trainable_parameters": trainable, "total_parameters": total,
                    "precision": precision, "output_dir": str(Path(cfg.checkpointing.output_dir))})
    return summary
