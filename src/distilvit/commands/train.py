"""`distilvit train --dataset NAME... --preset P ...`: flags from the config dataclasses."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from distilvit.cli_args import add_config_args, apply_args
from distilvit.config import (
    CaptionerConfig,
    DecoderConfig,
    EncoderConfig,
    EvalConfig,
    LoraConfig,
    ProjectorConfig,
    TrainConfig,
    preset,
)
from distilvit.errors import UsageError

MODEL_SECTIONS = {"encoder": EncoderConfig, "projector": ProjectorConfig,
                  "decoder": DecoderConfig, "lora": LoraConfig}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_args(parser, TrainConfig, "train", "training")
    for section, cls in MODEL_SECTIONS.items():
        add_config_args(parser, cls, section, f"model: {section} (default: the preset's)")
    add_config_args(parser, CaptionerConfig, "captioner", "model: sequence", nested=False)


def model_config(cfg: TrainConfig, args: argparse.Namespace) -> CaptionerConfig:
    try:
        config = preset(cfg.preset)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for section in MODEL_SECTIONS:
        setattr(config, section, apply_args(getattr(config, section), args, section))
    return apply_args(config, args, "captioner")


def run(args: argparse.Namespace) -> int:
    from distilvit.eval.evaluate import evaluate_model, print_report
    from distilvit.model import Captioner
    from distilvit.train.run import train

    # Both configs are built (and so checked) before any data or model is loaded.
    cfg = apply_args(TrainConfig(), args, "train")
    summary = train(cfg, model_config(cfg, args))
    if not summary["is_main"]:
        return 0  # other ranks of a torchrun job: rank 0 reports
    out = cfg.checkpointing.output_dir
    print(f"trained {summary['steps']} steps in {summary['seconds']} s "
          f"(best validation loss {summary['best_val_loss']:.4f}); saved to {out}")
    if cfg.checkpointing.final_eval:
        model = Captioner.from_pretrained(out)
        test = EvalConfig(data=cfg.data, split="test")  # the run's own data section
        metrics, predictions, data = evaluate_model(model, test)
        print_report(metrics, predictions, data, "test split:")
        (Path(out) / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return 0
