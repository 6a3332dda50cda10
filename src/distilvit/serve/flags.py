"""The flags `distilvit serve` and `distilvit gradio` share: MODEL_DIR, limits, batching, backend.

Here, not in `distilvit.commands`, so the two commands do not import each other. No Flask.
"""

from __future__ import annotations

import argparse

from distilvit.cli_args import add_config_args, apply_args
from distilvit.config import BackendConfig
from distilvit.errors import UsageError
from distilvit.serve.config import BatchConfig, LimitsConfig


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """MODEL_DIR and the flags `serve` and `gradio` share: limits, batching, backend."""
    parser.add_argument("model_dir", metavar="MODEL_DIR",
                        help="exported (ONNX) or trained/merged (torch) model folder")
    add_config_args(parser, LimitsConfig, "limits", "limits (per request)")
    add_config_args(parser, BatchConfig, "batching", "micro-batching")
    add_config_args(parser, BackendConfig, "backend", "backend")


def model_settings(args: argparse.Namespace) -> tuple[LimitsConfig, BatchConfig, BackendConfig]:
    """The shared flags as configs; a UsageError for limits that cannot work together."""
    limits = apply_args(LimitsConfig(), args, "limits")
    batching = apply_args(BatchConfig(), args, "batching")
    check_limits(limits, batching)
    return limits, batching, apply_args(BackendConfig(), args, "backend")


def check_limits(limits: LimitsConfig, batching: BatchConfig) -> None:
    """One-line UsageErrors for settings that cannot work together."""
    if limits.max_images > batching.queue_size:
        raise UsageError(f"--max-images {limits.max_images} is larger than --queue-size "
                         f"{batching.queue_size}: such a request could never be queued")
    if min(limits.max_images, limits.max_num_beams, limits.max_new_tokens_limit,
           batching.max_batch_size, limits.max_pixels) < 1 or limits.max_upload_mb <= 0:
        raise UsageError("limits and batch sizes must be positive")
