"""`distilvit eval MODEL_DIR --dataset NAME --split test --json FILE [--blind]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from distilvit.cli_args import add_config_args, apply_args
from distilvit.config import EvalConfig

SHOWN = ("attribute_accuracy", "strict_accuracy", "bleu4", "meteor", "rougeL", "cider",
         "mean_length", "gendered_rate", "n_images")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="trained or merged model folder")
    add_config_args(parser, EvalConfig, "eval", "evaluation")


def evaluate_model(model, cfg: EvalConfig) -> tuple[dict[str, Any], list[str], Any]:
    from distilvit.data.features import DataSpec, load_split
    from distilvit.eval.evaluate import evaluate

    data_cfg = cfg.data
    spec = DataSpec(datasets=tuple(data_cfg.dataset), split=cfg.split, sample=data_cfg.sample,
                    seed=data_cfg.seed, path=data_cfg.dataset_path)
    data = load_split(model, spec, cache_dir=None)
    metrics, predictions = evaluate(model, data, model.config.generation, cfg.inference.batch_size,
                                    blind=cfg.blind)
    return metrics, predictions, data


def print_report(metrics: dict[str, Any], predictions: list[str], data, title: str,
                 samples: int = 5) -> None:
    print(title)
    for key in SHOWN:
        if metrics.get(key) is not None:
            value = metrics[key]
            print(f"  {key:<20}{value:.4f}" if isinstance(value, float) else
                  f"  {key:<20}{value}")
    for i in range(min(samples, len(predictions))):
        print(f"  [{data.ids[i]}] {predictions[i]!r}  (reference: {data.captions[i][0]!r})")


def run(args: argparse.Namespace) -> int:
    from distilvit.data.registry import check_sources
    from distilvit.model import Captioner
    from distilvit.runtime import pick_device

    cfg = apply_args(EvalConfig(), args, "eval")
    check_sources(cfg.data.dataset, cfg.data.dataset_path)  # before the model loads
    model = Captioner.from_pretrained(args.model_dir).to(pick_device(cfg.inference.device))
    metrics, predictions, data = evaluate_model(model, cfg)
    label = "blind (image prefix zeroed)" if cfg.blind else "with images"
    print_report(metrics, predictions, data, f"{args.model_dir} on {cfg.split} ({label}):")
    if cfg.json:
        Path(cfg.json).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.json).write_text(json.dumps({**metrics, "blind": cfg.blind}, indent=2) + "\n")
    return 0
