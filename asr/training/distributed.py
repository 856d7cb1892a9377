"""Multi-process training with torch.distributed: process group, per-rank seeding, RNG states, DDP.

``torchrun --nproc_per_node N -m asr.training.train ...`` starts N processes; each joins the
process group (gloo on CPU, nccl on CUDA) here. A single process (no ``WORLD_SIZE`` > 1) never
touches torch.distributed.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from asr.training.checkpoint import rng_state


@dataclass
class DistInfo:
    """Where this process stands in the process group (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_kind: str) -> DistInfo:
    """Join the torchrun process group when launched by torchrun (``WORLD_SIZE`` > 1)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank)


def gather_rng_states(info: DistInfo) -> list[dict[str, Any]]:
    """Every rank's RNG states, in rank order (a collective: every rank must call it)."""
    if info.world_size == 1:
        return [rng_state()]
    states: list[Any] = [None] * info.world_size
    dist.all_gather_object(states, rng_state())
    return states


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def barrier(info: DistInfo) -> None:
    """Wait for every rank (nothing to wait for in a single process)."""
    if info.world_size > 1:
        dist.barrier()
