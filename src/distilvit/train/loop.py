"""The training loop (no CLI): fit a Captioner on prepared splits.

Data order is a pure function of (seed, epoch), so a resumed run only needs its position.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from distilvit.config import OptimConfig, TrainConfig
from distilvit.data.features import CaptionData
from distilvit.model.lora import causal_lm
from distilvit.runtime import store_frozen_weights_in_bf16
from distilvit.train.compile import LayerCompiler, run_compiled, should_compile
from distilvit.train.distributed import World, shard, wrap
from distilvit.train.optim import build_optimizer, warmup_cosine
from distilvit.train.state import Progress, load_state, save_state
from distilvit.train.trackers import MetricsLog

logger = logging.getLogger(__name__)


@dataclass
class Batch:
    inputs: dict[str, torch.Tensor]  # pixel_values or image_features
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    captions: list[str]


def epoch_rows(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    order = np.random.default_rng([seed, epoch]).permutation(n).tolist()
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def pick_captions(data: CaptionData, rows: list[int], seed: int, epoch: int) -> list[str]:
    """One reference per image per epoch, seeded (all references are seen over epochs)."""
    picks = np.random.default_rng([seed, epoch, 1]).integers(0, 1 << 30, size=len(data))
    return [data.captions[r][int(picks[r]) % len(data.captions[r])] for r in rows]


def make_batch(model, data: CaptionData, rows: list[int], captions: list[str]) -> Batch:
    text = model.format.encode(model.tokenizer, captions)
    inputs = {k: v.to(model.device) for k, v in data.model_inputs(model, rows).items()}
    return Batch(inputs, text.input_ids, text.attention_mask, text.labels, captions)


def use_eager_attention(model) -> None:
    """Plain matmul attention for the LM on the CPU.

    With caption-length sequences (~80 tokens) PyTorch's fused CPU attention kernel was the
    slower path: a base-architecture bf16 step took 1.18 s with it and 0.92 s with eager
    attention (bench/train_throughput.py settings). GPUs keep the fused kernel.
    """
    lm = causal_lm(model.lm)
    if hasattr(lm, "set_attn_implementation"):
        lm.set_attn_implementation("eager")


def prepare_for_training(model, precision: str, compile_setting: str,
                         steps: int) -> LayerCompiler | None:
    """Speed settings that change the model in place, applied explicitly by the caller
    (train/run.py, the bench) before the Trainer is built; each one is logged.

    They change no result beyond rounding: frozen weights stored in bf16 (when training
    under bf16 autocast, which rounds them to bf16 anyway), eager attention on the CPU, and
    the decoder layers compiled (the returned compiler, handed to the Trainer).
    """
    if precision == "bf16":
        saved = store_frozen_weights_in_bf16(model)
        logger.info("frozen weights kept in bf16 (%.0f MB less)", saved / 1e6)
    if model.device.type == "cpu":
        use_eager_attention(model)
        logger.info("language model switched to eager attention (faster on the CPU)")
    if not should_compile(compile_setting, model.device, steps):
        return None
    logger.info("decoder layers compiled for the training steps (--compile %s)",
                compile_setting)
    return LayerCompiler(model)


def autocast_for(model, precision: str):
    if precision == "bf16":
        return torch.autocast(model.device.type, dtype=torch.bfloat16)
    return nullcontext()


def batch_loss(model, batch: Batch, precision: str, clip_loss=None,
               forward=None) -> dict[str, torch.Tensor]:
    """Caption loss (+ CLIP loss); `forward` is the DDP wrapper when there is one."""
    with autocast_for(model, precision):
        out = (forward or model)(batch.input_ids, batch.attention_mask, batch.labels,
                                 **batch.inputs)
        losses = {"caption_loss": out.loss}
        if clip_loss is not None:
            losses["clip_loss"] = clip_loss(out.prefix, batch.captions)
    losses["loss"] = sum(v.float() for v in losses.values())
    return losses


@torch.no_grad()
def validation_loss(model, data: CaptionData, samples: int, batch_size: int,
                    precision: str) -> float:
    """Mean caption loss over the first `samples` images, first reference each."""
    model.eval()
    rows = list(range(min(len(data), samples)))
    total, count = 0.0, 0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        batch = make_batch(model, data, chunk, [data.captions[r][0] for r in chunk])
        total += batch_loss(model, batch, precision)["caption_loss"].item() * len(chunk)
        count += len(chunk)
    model.train()
    return total / max(1, count)


def total_steps(n: int, cfg: OptimConfig, world: World | None = None) -> int:
    batches = math.ceil(n / cfg.batch_size) // (world.size if world else 1)
    per_epoch = math.ceil(batches / cfg.gradient_accumulation_steps)
    steps = math.ceil(per_epoch * cfg.num_train_epochs)
    return min(steps, cfg.max_steps) if cfg.max_steps else steps


class Trainer:
    """Owns the optimizer, schedule, progress and logs of one run.

    Reads the run's `optim` and `checkpointing` sections and the data seed; it leaves the
    model as given (speed settings are `prepare_for_training`, called before, whose compiler
    is passed in).
    """

    def __init__(self, model, train: CaptionData, val: CaptionData | None, cfg: TrainConfig,
                 precision: str, clip_loss=None, world: World | None = None,
                 compiler: LayerCompiler | None = None):
        world = world or World()
        self.model, self.train_data, self.val_data = model, train, val
        self.cfg, self.precision, self.clip_loss = cfg.optim, precision, clip_loss
        self.ckpt, self.seed = cfg.checkpointing, cfg.data.seed
        self.world, self.is_main = world, world.is_main  # only rank 0 writes
        self.steps = total_steps(len(train), cfg.optim, world)
        self.compiler = compiler
        self.forward = wrap(model, world)
        self.out = Path(cfg.checkpointing.output_dir)
        self.optimizer = build_optimizer(model, cfg.optim, clip_loss)
        self.scheduler = warmup_cosine(self.optimizer, self.steps, cfg.optim.warmup_ratio)
        self.progress = Progress()
        self.state_dir = self.out / "checkpoint"
        self.metrics = (MetricsLog(self.out, self.ckpt.report_to, dataclasses.asdict(cfg))
                        if self.is_main else None)

    def fit(self) -> dict[str, Any]:
        if self.ckpt.resume and (self.state_dir / "trainer_state.json").is_file():
            self.progress = load_state(self.state_dir, self.model, self.optimizer,
                                       self.scheduler, self._aux_modules())
            logger.info("resumed at step %d (epoch %d)", self.progress.step, self.progress.epoch)
        self.model.train()
        self.bar = tqdm(total=self.steps, initial=self.progress.step, desc="training",
                        unit="step", disable=not self.is_main)
        self.started = time.perf_counter() - self.progress.seconds
        stop = self.progress.step >= self.steps
        try:
            while not stop:
                stop = self._run_epoch()
            return self._finish()
        finally:
            self.bar.close()
            if self.metrics is not None:
                self.metrics.close()

    def _run_epoch(self) -> bool:
        p, cfg = self.progress, self.cfg
        batches = shard(epoch_rows(len(self.train_data), cfg.batch_size, self.seed, p.epoch),
                        self.world)
        while p.batch_in_epoch < len(batches):
            rows = batches[p.batch_in_epoch]
            captions = pick_captions(self.train_data, rows, self.seed, p.epoch)
            batch = make_batch(self.model, self.train_data, rows, captions)
            losses = run_compiled(self.compiler, partial(
                batch_loss, self.model, batch, self.precision, self.clip_loss, self.forward))
            (losses["loss"] / cfg.gradient_accumulation_steps).backward()
            p.batch_in_epoch += 1
            last = p.batch_in_epoch == len(batches)
            if p.batch_in_epoch % cfg.gradient_accumulation_steps == 0 or last:
                if self._optimizer_step(losses, len(rows)):
                    return True
        p.epoch, p.batch_in_epoch = p.epoch + 1, 0
        if not self.ckpt.eval_every:
            return self._validate()
        return False

    def _optimizer_step(self, losses: dict[str, torch.Tensor], batch_images: int) -> bool:
        """One update; True when training should stop."""
        cfg, ckpt, p = self.cfg, self.ckpt, self.progress
        if cfg.max_grad_norm:
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        p.step += 1
        p.seconds = time.perf_counter() - self.started
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{losses['loss'].item():.3f}")
        if p.step % ckpt.log_every == 0 or p.step == 1:
            self._log({k: v.item() for k, v in losses.items()})
        stop = p.step >= self.steps or self._out_of_time()
        if ckpt.eval_every and p.step % ckpt.eval_every == 0 and not stop:
            stop = self._validate()
        if ckpt.checkpoint_every and p.step % ckpt.checkpoint_every == 0 and self.is_main:
            save_state(self.state_dir, self.model, self.optimizer, self.scheduler, p,
                       self._aux_modules())
        return stop

    def _aux_modules(self) -> dict:
        """Trainable modules outside the captioner (not in the model checkpoint)."""
        return {"clip_head": self.clip_loss.head} if self.clip_loss is not None else {}

    def _out_of_time(self) -> bool:
        return bool(self.cfg.max_minutes) and self.progress.seconds > self.cfg.max_minutes * 60

    def _validate(self) -> bool:
        """Validation loss; saves the best model; True when early stopping triggers."""
        if self.val_data is None or not len(self.val_data):
            return False
        p = self.progress
        loss = validation_loss(self.model, self.val_data, self.ckpt.eval_samples,
                               self.cfg.batch_size, self.precision)
        p.last_eval_step = p.step
        improved = loss < p.best_loss
        self._log({"val_loss": loss, "best": improved})
        if improved:
            p.best_loss, p.bad_evals = loss, 0
            if self.is_main:
                self.model.save_pretrained(self.out)
        else:
            p.bad_evals += 1
        patience = self.ckpt.early_stopping_patience
        return bool(patience) and p.bad_evals >= patience

    def _log(self, values: dict[str, Any]) -> None:
        if not self.is_main:
            return
        p = self.progress
        seen = (p.step * self.cfg.batch_size * self.cfg.gradient_accumulation_steps
                * self.world.size)
        row = {"step": p.step, "epoch": p.epoch, "lr": self.scheduler.get_last_lr()[0],
               "seconds": round(p.seconds, 2),
               "samples_per_s": round(seen / max(p.seconds, 1e-9), 1), **values}
        self.metrics.write(row)

    def _finish(self) -> dict[str, Any]:
        p = self.progress
        if self.val_data is not None and len(self.val_data) and p.last_eval_step != p.step:
            self._validate()  # the steps since the last validation count too
        if (self.val_data is None or not len(self.val_data)) and self.is_main:
            self.model.save_pretrained(self.out)
        return {"steps": p.step, "epochs": p.epoch, "seconds": round(p.seconds, 1),
                "best_val_loss": p.best_loss}
