"""Regional `torch.compile`: each decoder layer of the LM compiled, for training steps only.

Why: on the CPU a third of a training step is element-wise work (RMSNorm, rotary embedding,
SiLU gating, LoRA scaling, autocast casts), each a separate pass over memory; Inductor fuses
them. Measured on two cores, compiled and eager runs interleaved in one process: `base`
architecture, batch 8, bf16, caption lengths varying: 1.08 -> 0.72 s per step; `tiny`
preset on `shapes`, batch 32, fp32, whole Trainer steps: 62 -> 43 ms (docs/training.md).

Why per layer: the layers share one code object, so one compilation serves all of them
(~23 s on two cores from a cold cache, plus ~17 s for the dynamic-shape recompile) where
compiling the whole model took 150 s. Why training steps only: validation and generation
see other shapes and a KV cache, which would recompile; outside `run_compiled` the
layers run eagerly as before.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch

from distilvit.model.blocks import transformer_layers
from distilvit.model.decoder import backbone
from distilvit.model.lora import causal_lm

logger = logging.getLogger(__name__)
T = TypeVar("T")

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
    """Holds one compiled forward per decoder layer; `run(step)` calls step with them.

    Compilation happens on the first call, so that is where a broken toolchain (a compiler
    without Python headers, say) shows: then the run warns once and goes on eagerly. An
    error that is not the compiler's fails the eager retry the same way and surfaces.
    """

    def __init__(self, model) -> None:
        self.layers = list(transformer_layers(backbone(causal_lm(model.lm))))
        self.compiled = [torch.compile(layer.forward) for layer in self.layers]
        self.enabled, self.proven = True, False

    def run(self, step: Callable[[], T]) -> T:
        if not self.enabled:
            return step()
        try:
            with self._active():
                result = step()
        except Exception as error:
            if self.proven:
                raise
            self.enabled = False
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            logger.warning("torch.compile failed (%s); training goes on eagerly", first_line)
            return step()
        self.proven = True
        return result

    @contextmanager
    def _active(self) -> Iterator[None]:
        # An instance attribute shadows the class's forward; deleting it restores eager.
        for layer, forward in zip(self.layers, self.compiled, strict=True):
            layer.forward = forward
        try:
            yield
        finally:
            for layer in self.layers:
                del layer.forward


def run_compiled(compiler: LayerCompiler | None, step: Callable[[], T]) -> T:
    """`step()` with the compiled layers, or eagerly when compilation is off."""
    return step() if compiler is None else compiler.run(step)
