"""`distilvit eval MODEL_DIR --dataset NAME --split test --json FILE [--blind] [--backend ...]`.

MODEL_DIR is a checkpoint (torch) or an export (ONNX Runtime; `--onnx-variant int8` scores
the quantized graphs), opened like `caption` and `serve` open it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from distilvit.cli_args import add_config_args, apply_args
from distilvit.config import BackendConfig, EvalConfig
from distilvit.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", metavar="MODEL_DIR",
                        help="trained or merged (torch) or exported (ONNX) model folder")
    add_config_args(parser, EvalConfig, "eval", "evaluation")
    add_config_args(parser, BackendConfig, "backend", "backend")


def run(args: argparse.Namespace) -> int:
    from distilvit.caption_model import open_model
    from distilvit.data.registry import check_sources
    from distilvit.eval.evaluate import BLIND_NEEDS_TORCH, evaluate_model, print_report
    from distilvit.ort.files import is_exported

    cfg = apply_args(EvalConfig(), args, "eval")
    check_sources(cfg.data.dataset, cfg.data.dataset_path)  # before the model loads
    backend = apply_args(BackendConfig(), args, "backend")
    onnx = backend.backend == "onnx" or (backend.backend == "auto"
                                         and is_exported(args.model_dir))
    if cfg.blind and onnx:
        raise UsageError(BLIND_NEEDS_TORCH)
    model = open_model(args.model_dir, backend, cfg.inference)
    metrics, predictions, data = evaluate_model(model, cfg)
    label = "blind (image prefix zeroed)" if cfg.blind else "with images"
    print_report(metrics, predictions, data, f"{args.model_dir} on {cfg.split} ({label}):")
    if cfg.json:
        Path(cfg.json).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.json).write_text(json.dumps({**metrics, "blind": cfg.blind}, indent=2) + "\n")
    return 0
