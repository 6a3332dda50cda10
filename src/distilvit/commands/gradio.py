"""`distilvit gradio MODEL_DIR [--port 7860]`: the Gradio demo (image in, caption out)."""

from __future__ import annotations

import argparse

from distilvit.cli_args import add_config_args, apply_args
from distilvit.config import BackendConfig
from distilvit.errors import UsageError
from distilvit.serve.config import BatchConfig, GradioConfig, LimitsConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", metavar="MODEL_DIR",
                        help="exported (ONNX) or trained/merged (torch) model folder")
    add_config_args(parser, GradioConfig, "gradio", "demo")
    add_config_args(parser, LimitsConfig, "limits", "limits (per request)")
    add_config_args(parser, BatchConfig, "batching", "micro-batching")
    add_config_args(parser, BackendConfig, "backend", "backend")


def run(args: argparse.Namespace) -> int:
    from distilvit.serve.app import check_limits
    from distilvit.serve.backend import load_backend
    from distilvit.serve.gradio_app import launch

    limits = apply_args(LimitsConfig(), args, "limits")
    batching = apply_args(BatchConfig(), args, "batching")
    check_limits(limits, batching)
    demo = apply_args(GradioConfig(), args, "gradio")
    backend = load_backend(args.model_dir, apply_args(BackendConfig(), args, "backend"))
    try:
        _, state = launch(backend, demo, limits, batching)
    except OSError as exc:  # gradio: the port is taken
        raise UsageError(f"cannot start the demo on {demo.host}:{demo.port} ({exc})") from None
    state.batcher.close()
    return 0
