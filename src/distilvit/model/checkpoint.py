"""Checkpoint format: config.json + trainable weights (safetensors) + tokenizer + processor.

A checkpoint records the base models by name or path and stores only what training changed
(projector, LoRA, unfrozen vision layers): megabytes, not the ~1 GB of the bases. `merge`
writes a self-contained folder instead: LoRA folded into the LM, both bases saved inside.

This module knows the files, not the class: `Captioner.from_pretrained` / `save_pretrained`
call it with a built model (`model` below is always a `distilvit.model.Captioner`), so the
two modules do not import each other.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from distilvit import __version__
from distilvit.config import CaptionerConfig
from distilvit.errors import ModelDirError
from distilvit.folders import CONFIG_FILE, read_config_json
from distilvit.model.lora import merge_lora
from distilvit.model.roles import PROJECTOR, parameter_role
from distilvit.runtime import hf_quiet

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"


def save_captioner(model: nn.Module, model_dir: str | Path,
                   config: CaptionerConfig | None = None,
                   weights: dict[str, torch.Tensor] | None = None) -> None:
    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = config or model.config
    if weights is None:
        weights = model.checkpoint_tensors()
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in weights.items()}
    save_file(tensors, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    meta = {"distilvit_format": FORMAT_VERSION, "distilvit_version": __version__,
            "architecture": "PrefixCaptioner", "captioner": config.to_dict()}
    (out / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    model.tokenizer.save_pretrained(out)
    model.image_processor.save_pretrained(out)


def read_config(model_dir: str | Path, meta: dict[str, Any] | None = None) -> CaptionerConfig:
    """The checkpoint's config, or a one-line ModelDirError saying what is wrong.

    `meta`: the folder's config.json when the caller has read it already (else it is read).
    """
    if meta is None:
        meta = read_config_json(model_dir, "`distilvit train` or `distilvit merge`")
    if "distilvit_format" not in meta:
        raise ModelDirError(f"{model_dir}: {CONFIG_FILE} is not a distilvit config (a base "
                            "model folder? train a captioner on it first)")
    if meta["distilvit_format"] > FORMAT_VERSION:
        raise ModelDirError(f"{model_dir}: format {meta['distilvit_format']} is newer than "
                            f"this distilvit understands ({FORMAT_VERSION}); upgrade distilvit")
    try:
        return CaptionerConfig.from_dict(meta["captioner"])
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelDirError(f"{model_dir}: invalid captioner config ({exc})") from None


def weights_path(model_dir: str | Path) -> Path:
    """The checkpoint's weights file, or a one-line ModelDirError when it is missing."""
    path = Path(model_dir) / WEIGHTS_FILE
    if not path.is_file():
        raise ModelDirError(f"{model_dir}: {WEIGHTS_FILE} is missing")
    return path


def load_weights(model: nn.Module, path: Path) -> None:
    """Put a checkpoint's tensors into a model built from its config."""
    _load_weights(model, load_file(str(path)), path)


def _load_weights(model: nn.Module, weights: dict[str, torch.Tensor], source: Path) -> None:
    expected = set(model.checkpoint_tensors())
    missing = sorted(expected - set(weights))
    unexpected = sorted(set(weights) - expected)
    if missing or unexpected:
        raise ModelDirError(
            f"{source}: weights do not match config.json (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}); was the file written by another model?")
    _size_buffers(model, weights)
    model.load_state_dict(weights, strict=False)


def _size_buffers(model: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Buffers whose size is only known once fitted (feature statistics) take the saved shape."""
    for name, buffer in model.projector.named_buffers():
        saved = weights[f"projector.{name}"]
        if buffer.shape != saved.shape:
            module_name, _, attr = name.rpartition(".")
            module = model.projector.get_submodule(module_name)
            setattr(module, attr, torch.empty_like(saved))


def save_merged(model: nn.Module, output_dir: str | Path) -> Path:
    """Fold LoRA into the LM and save both bases inside `output_dir` (no download to load)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    merged_lm = merge_lora(model.lm)
    with hf_quiet():
        merged_lm.save_pretrained(out / "decoder")
        model.encoder.tower.save_pretrained(out / "encoder")
    model.tokenizer.save_pretrained(out / "decoder")
    model.image_processor.save_pretrained(out / "encoder")
    config = copy.deepcopy(model.config)
    config.encoder.name_or_path, config.encoder.unfreeze_last_n_layers = "encoder", 0
    config.decoder.name_or_path, config.lora.r = "decoder", 0
    projector = {n: t for n, t in model.checkpoint_tensors().items()
                 if parameter_role(n) == PROJECTOR}
    save_captioner(model, out, config=config, weights=projector)
    logger.info("merged into %s", out)
    return out
