"""Device, dtype, seeding and logging: decided in one place, with the reason logged."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import transformers

logger = logging.getLogger(__name__)


def setup_logging(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # transformers and peft are chatty at INFO; keep their warnings only.
    for name in ("transformers", "peft", "httpx", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.WARNING)


def pick_device(requested: str = "auto") -> torch.device:
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        device = torch.device("cuda")
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    logger.debug("device %s (auto-detected)", device)
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def quiet_hub() -> None:
    """Hugging Face libraries print progress bars and telemetry notes we do not want."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@contextmanager
def hf_quiet() -> Iterator[None]:
    """Silence transformers' load reports and progress bars around one load or save.

    Unused-weight reports (the SigLIP pooling head we drop on purpose) and per-shard bars are
    noise to a user captioning an image; real failures still raise.
    """
    tf_logging = transformers.utils.logging
    verbosity, bars = tf_logging.get_verbosity(), tf_logging.is_progress_bar_enabled()
    tf_logging.set_verbosity_error()
    tf_logging.disable_progress_bar()
    try:
        yield
    finally:
        tf_logging.set_verbosity(verbosity)
        if bars:
            tf_logging.enable_progress_bar()


def bf16_supported(device: torch.device) -> bool:
    """bf16 autocast pays off on GPUs with bf16 and on CPUs with bf16 matrix units.

    On this project's 2-core CPUs bf16 matmul measured ~4x fp32 (AMX/AVX512-BF16); CPUs
    without those units emulate bf16 and get slower, so they keep fp32.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def resolve_precision(requested: str, device: torch.device) -> str:
    if requested == "auto":
        precision = "bf16" if bf16_supported(device) else "fp32"
        logger.info("precision %s (auto on %s)", precision, device)
        return precision
    return requested


def store_frozen_weights_in_bf16(model: torch.nn.Module) -> int:
    """Keep the frozen matrices (linear weights, embedding tables) in bf16; returns bytes saved.

    For bf16 autocast training only: autocast casts every fp32 matmul weight to bf16 on each
    step anyway, so fp32 copies of frozen weights cost memory and cast time and change no
    result. Trainable parameters, norms and biases (1-D) stay fp32.
    """
    saved = 0
    for param in model.parameters():
        if not param.requires_grad and param.dim() >= 2 and param.dtype == torch.float32:
            param.data = param.data.to(torch.bfloat16)
            saved += param.numel() * 2
    return saved
