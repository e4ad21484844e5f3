"""Running the trainer under ``torchrun``: DistributedDataParallel, NCCL on GPUs, gloo on CPUs."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False  # setup() created the process group, so teardown() ends it

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str) -> Distributed:
    """Join the process group that ``torchrun`` (or any launcher setting ``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``) describes, unless the caller has already
    initialized one; a no-op for one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    owns_group = not dist.is_initialized()
    if owns_group:
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return Distributed(rank, world, local_rank, owns_group)


def teardown(ctx: Distributed) -> None:
    """End the process group if :func:`setup` created it (a caller's own group stays)."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: nn.Module, ctx: Distributed, device: torch.device) -> nn.Module:
    """``module`` in DistributedDataParallel when running in several processes."""
    if not ctx.enabled:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def no_sync(module: nn.Module):
    """Skip the gradient all-reduce for the forward/backward inside (e.g. the discriminator
    while the generator is trained: those gradients are thrown away)."""
    if isinstance(module, nn.parallel.DistributedDataParallel):
        return module.no_sync()
    return contextlib.nullcontext()


def mean_across(value: float, ctx: Distributed, device: torch.device) -> float:
    """A metric averaged over all processes (every process gets the same number)."""
    if not ctx.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / ctx.world
