"""Regional `torch.compile`: each decoder layer of the LM compiled, for training steps only.

Why: on the CPU a third of a training step is element-wise work (RMSNorm, rotary embedding,
SiLU gating, LoRA scaling, autocast casts), each a separate pass over memory; Inductor fuses
them. Measured on two cores, compiled and eager runs interleaved in one process: `base`
architecture, batch 8, bf16, caption lengths varying: 1.08 -> 0.72 s per step; `tiny`
preset on `shapes`, batch 32, fp32, whole Trainer steps: 62 -> 43 ms (docs/training.md).

Why per layer: the layers share one code object, so one compilation serves all of them
(~23 s on two cores from a cold cache, plus ~17 s for the dynamic-shape recompile) where
compiling the whole model took 150 s. Why training steps only: validation and generation
see other shapes and a KV cache, which would recompile; outside `compiled_layers` the
layers run eagerly as before.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from distilvit.model.blocks import transformer_layers
from distilvit.model.decoder import backbone
from distilvit.model.lora import causal_lm

# Compiling costs 20-40 s before training goes at full speed (cold cache, two cores; the
# first new caption length recompiles once with dynamic shapes). Savings per step measured
# here: `base` ~0.36 s (earned back in ~110 steps), `tiny` ~0.02 s (~1,750 steps).
AUTO_MIN_STEPS = 1000
CXX_COMPILERS = ("g++", "c++", "clang++")


def has_cxx_compiler() -> bool:
    """Inductor turns CPU graphs into C++; without a compiler it cannot run."""
    return any(shutil.which(name) for name in CXX_COMPILERS)


def should_compile(setting: str, device: torch.device, steps: int) -> bool:
    """`on` / `off` as asked; `auto` = a CPU run of >= AUTO_MIN_STEPS steps, with a C++
    compiler on the machine.

    `auto` stays off on GPUs: that path has not been measured here (`on` forces it).
    """
    if setting in ("on", "off"):
        return setting == "on"
    if setting != "auto":
        raise ValueError(f"compile must be 'auto', 'on' or 'off', not {setting!r}")
    return device.type == "cpu" and steps >= AUTO_MIN_STEPS and has_cxx_compiler()


class LayerCompiler:
    """Holds one compiled forward per decoder layer; `active()` swaps them in."""

    def __init__(self, model) -> None:
        self.layers = list(transformer_layers(backbone(causal_lm(model.lm))))
        self.compiled = [torch.compile(layer.forward) for layer in self.layers]

    @contextmanager
    def active(self) -> Iterator[None]:
        # An instance attribute shadows the class's forward; deleting it restores eager.
        for layer, forward in zip(self.layers, self.compiled, strict=True):
            layer.forward = forward
        try:
            yield
        finally:
            for layer in self.layers:
                del layer.forward


@contextmanager
def compiled_layers(compiler: LayerCompiler | None) -> Iterator[None]:
    """`compiler.active()`, or nothing when compilation is off."""
    if compiler is None:
        yield
        return
    with compiler.active():
        yield
