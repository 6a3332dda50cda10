"""`distilvit gradio MODEL_DIR [--port 7860]`: the Gradio demo (image in, caption out)."""

from __future__ import annotations

import argparse

from distilvit.cli_args import add_config_args, apply_args
from distilvit.errors import UsageError
from distilvit.serve.config import GradioConfig
from distilvit.serve.flags import add_model_arguments, model_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    add_config_args(parser, GradioConfig, "gradio", "demo")


def run(args: argparse.Namespace) -> int:
    from distilvit.serve.backend import load_backend
    from distilvit.serve.gradio_app import launch

    limits, batching, backend_config = model_settings(args)
    demo = apply_args(GradioConfig(), args, "gradio")
    backend = load_backend(args.model_dir, backend_config)
    try:
        _, state = launch(backend, demo, limits, batching)
    except OSError as exc:  # gradio: the port is taken
        raise UsageError(f"cannot start the demo on {demo.host}:{demo.port} ({exc})") from None
    state.batcher.close()
    return 0
