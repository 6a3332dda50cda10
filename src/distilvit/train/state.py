"""Resumable training state, pickle-free: tensors in safetensors, the rest in JSON.

A run killed at any step and resumed from its last checkpoint continues with the same
weights, optimizer moments, schedule, RNG and data position, so it ends where an
uninterrupted run would.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from distilvit.model.checkpoint import WEIGHTS_FILE, _load_weights, save_captioner


@dataclass
class Progress:
    epoch: int = 0
    batch_in_epoch: int = 0  # micro-batches of this epoch already consumed
    step: int = 0  # optimizer steps done
    best_loss: float = float("inf")
    bad_evals: int = 0
    seconds: float = 0.0  # training wall time so far
    last_eval_step: int = -1


def save_state(folder: Path, model, optimizer, scheduler, progress: Progress,
               aux: dict | None = None) -> None:
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_captioner(model, tmp)
    tensors, groups = _optimizer_tensors(optimizer)
    tensors["rng.torch"] = torch.get_rng_state()
    for prefix, module in (aux or {}).items():
        for name, value in module.state_dict().items():
            tensors[f"aux.{prefix}.{name}"] = value.detach().cpu().contiguous()
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    state = {"progress": asdict(progress), "param_groups": groups,
             "scheduler": {k: v for k, v in scheduler.state_dict().items()
                           if k != "lr_lambdas"}}
    (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)  # the previous checkpoint survives until the new one is complete


def load_state(folder: Path, model, optimizer, scheduler, aux: dict | None = None) -> Progress:
    _load_weights(model, load_file(str(folder / WEIGHTS_FILE)), folder / WEIGHTS_FILE)
    state = json.loads((folder / "trainer_state.json").read_text())
    tensors = load_file(str(folder / "optimizer.safetensors"))
    torch.set_rng_state(tensors.pop("rng.torch"))
    for prefix, module in (aux or {}).items():
        start = f"aux.{prefix}."
        module.load_state_dict({k[len(start):]: tensors.pop(k) for k in list(tensors)
                                if k.startswith(start)})
    _restore_optimizer(optimizer, tensors, state["param_groups"])
    scheduler.load_state_dict({**scheduler.state_dict(), **state["scheduler"]})
    return Progress(**state["progress"])


def _optimizer_tensors(optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    sd = optimizer.state_dict()
    tensors = {}
    for index, slots in sd["state"].items():
        for key, value in slots.items():
            value = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"state.{index}.{key}"] = value.detach().cpu().contiguous()
    return tensors, sd["param_groups"]


def _restore_optimizer(optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})
