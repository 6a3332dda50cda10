"""Training throughput at the `base` architecture (random weights): original design vs ours.

(a) original: the seed's own design and training step as bench/original_design.py defines
    it (SigLIP with its pooling head run every step, linear projector over all 196 patches,
    LoRA alpha 16 / dropout 0.1, gradient checkpointing on the LM, the LM's loss over all 228
    positions, AdamW wd 0.01 + clipping 1.0 + cosine schedule, fp32);
(b) ours: pixel-shuffle k=2 (49 tokens) + MLP, features read from the frozen-feature cache,
    logits only at caption positions, bf16 autocast where the hardware has it, and what
    `prepare_for_training` sets up for a run of >= 1000 steps (frozen weights stored in bf16, eager
    attention on the CPU, decoder layers compiled under `--compile auto`) with the preset's
    LoRA dropout 0.
Batch 8, captions of 32 tokens. Each design runs in its own process so its peak RSS is its
own; the warm-up step (where (b) compiles) is timed apart as `first_step_s`. Also measured:
epoch 2 / epoch 1 speed with the cache (epoch 1 encodes the images), after an untimed
warm-up run that compiles the layers as a long run would.

    python bench/train_throughput.py [--steps 5] [--device cpu] [--preset base] [--json out.json]

`--preset` picks the architecture of (b) and of the cache measurement (e.g. `compact`:
DistilGPT-2 as the LM); (a) is always the seed's design at the `base` shapes.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bench_io import write_json
from distilvit.bases import random_captioner
from distilvit.config import (
    CheckpointConfig,
    OptimConfig,
    RuntimeConfig,
    TrainConfig,
    preset,
)
from distilvit.runtime import resolve_precision
from distilvit.train.compile import AUTO_MIN_STEPS, run_compiled
from distilvit.train.loop import autocast_for, prepare_for_training
from distilvit.train.optim import build_optimizer
from original_design import CAPTION_TOKENS, SeedTrainer, build_original, random_batch

BATCH = 8


def _text(model):
    ids = torch.randint(1, 300, (BATCH, CAPTION_TOKENS - 1)).tolist()
    return model.format.encode_ids(ids)


def run_design(design: str, steps: int, device: str, preset_name: str = "base") -> dict:
    torch.manual_seed(0)
    step, precision, compiled = (original_step(device) if design == "original"
                                 else ours_step(device, preset_name))
    start = time.perf_counter()
    step()  # warm-up (and compilation)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - start
    return {"design": design, "preset": None if design == "original" else preset_name,
            "precision": precision, "compiled": compiled,
            "steps": steps, "first_step_s": first,
            "samples_per_s": steps * BATCH / seconds, "step_s": seconds / steps,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


def original_step(device: str) -> tuple[Callable[[], object], str, bool]:
    """The seed's step (bench/original_design.py): encoder every step, fp32."""
    model = build_original().to(device)
    trainer = SeedTrainer(model)
    batch = {k: v.to(device) for k, v in random_batch(BATCH, tokens=CAPTION_TOKENS).items()}
    return lambda: trainer.step(**batch), "fp32", False


def ours_step(device: str, preset_name: str = "base") -> tuple[Callable[[], object], str, bool]:
    """Our step: cached features, caption-only logits, the Trainer's precision and compile."""
    model = random_captioner(preset(preset_name)).to(device).train()
    precision = resolve_precision("auto", model.device)
    optimizer = build_optimizer(model, OptimConfig())
    text = _text(model)
    features = model.encoder(torch.randn(BATCH, 3, 224, 224)).detach().half()
    compiler = prepare_for_training(model, precision, "auto", AUTO_MIN_STEPS)

    def loss() -> torch.Tensor:
        with autocast_for(model, precision):
            return model(text.input_ids, text.attention_mask, text.labels,
                         image_features=features.float()).loss

    def step():
        run_compiled(compiler, loss).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, precision, compiler is not None


def epoch_speedup(steps: int, preset_name: str = "base") -> dict:
    """Epoch 1 (encode into the cache + train) against epoch 2 (cache hit + train)."""
    from distilvit.data.features import DataSpec, load_split
    from distilvit.train.compile import should_compile
    from distilvit.train.loop import Trainer, total_steps

    model = random_captioner(preset(preset_name))
    precision = resolve_precision("auto", model.device)
    compile_setting = ("on" if should_compile("auto", model.device, AUTO_MIN_STEPS)
                       else "off")
    spec = DataSpec(datasets=("shapes",), split="train", sample=steps * BATCH)

    def run_epoch(cache: str, out: str) -> float:
        start = time.perf_counter()
        data = load_split(model, spec, cache, precision)
        cfg = TrainConfig(optim=OptimConfig(batch_size=BATCH, num_train_epochs=1),
                          checkpointing=CheckpointConfig(output_dir=out, checkpoint_every=0,
                                                         log_every=10**9),
                          runtime=RuntimeConfig(precision=precision, compile=compile_setting))
        compiler = prepare_for_training(model, precision, compile_setting,
                                        total_steps(len(data), cfg.optim))
        Trainer(model, data, None, cfg, precision, compiler=compiler).fit()
        return time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        run_epoch(f"{tmp}/warm-up", f"{tmp}/warm-up-run")  # compiles, fills another cache
        times = [run_epoch(f"{tmp}/cache", f"{tmp}/run{epoch}") for epoch in range(2)]
    return {"images": steps * BATCH, "compile": compile_setting, "epoch1_s": times[0],
            "epoch2_s": times[1], "epoch2_speedup": times[0] / times[1]}


def child(design: str, steps: int, device: str, preset_name: str = "base") -> dict:
    out = subprocess.run([sys.executable, __file__, "--only", design, "--steps", str(steps),
                          "--device", device, "--preset", preset_name],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--preset", default="base", help="our architecture (default: base)")
    parser.add_argument("--only", choices=["original", "ours", "cache"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only:
        row = (epoch_speedup(args.steps, args.preset) if args.only == "cache"
               else run_design(args.only, args.steps, args.device, args.preset))
        print(json.dumps(row))
        return row
    rows = {d: child(d, args.steps, args.device, args.preset) for d in ("original", "ours")}
    cache = child("cache", args.steps, args.device, args.preset)
    report = {"preset": args.preset, "batch": BATCH, "caption_tokens": CAPTION_TOKENS, "device": args.device,
              "threads": torch.get_num_threads(), "designs": rows, "cache": cache,
              "ratio": rows["ours"]["samples_per_s"] / rows["original"]["samples_per_s"]}
    print_table(report)
    write_json(report, args.json)
    return report


def print_table(report: dict) -> None:
    print(f"ours at the {report['preset']} preset, random weights, batch {report['batch']}, "
          f"{report['caption_tokens']} caption tokens, {report['threads']} threads")
    print(f"{'design':<10}{'precision':>10}{'compiled':>9}{'samples/s':>11}{'s/step':>9}"
          f"{'first step s':>14}{'peak RSS GB':>13}")
    for row in report["designs"].values():
        print(f"{row['design']:<10}{row['precision']:>10}{str(row['compiled']):>9}"
              f"{row['samples_per_s']:>11.2f}{row['step_s']:>9.2f}{row['first_step_s']:>14.1f}"
              f"{row['peak_rss_gb']:>13.2f}")
    c = report["cache"]
    print(f"feature cache, {c['images']} images (compile {c['compile']}): "
          f"epoch 1 {c['epoch1_s']:.1f} s, "
          f"epoch 2 {c['epoch2_s']:.1f} s ({c['epoch2_speedup']:.1f}x)")
    print(f"ratio (ours / original samples/s): {report['ratio']:.2f}x")


if __name__ == "__main__":
    main()
