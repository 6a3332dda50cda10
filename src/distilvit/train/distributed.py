"""Several processes (torchrun / accelerate launch): DDP with gloo on CPU, NCCL on GPU.

The launcher sets WORLD_SIZE, RANK and LOCAL_RANK; without them everything here is a no-op,
so the same `distilvit train` command runs alone or under a launcher.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def init_world() -> World:
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        logger.info("rank %d of %d (%s)", world.rank, size, backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(world.local_rank)
    return world


def device_for(world: World, requested: str) -> str:
    """Each process drives its own GPU; on CPU they share the machine."""
    if world.distributed and requested in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{world.local_rank}"
    return requested


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def wrap(model: torch.nn.Module, world: World) -> torch.nn.Module:
    """DDP averages the gradients of the trainable parameters across processes."""
    if not world.distributed:
        return model
    ids = [world.local_rank] if next(model.parameters()).is_cuda else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def shard(batches: list, world: World) -> list:
    """This process's micro-batches; every process gets the same number."""
    usable = len(batches) - len(batches) % world.size if world.distributed else len(batches)
    return batches[world.rank:usable:world.size]


def shutdown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
