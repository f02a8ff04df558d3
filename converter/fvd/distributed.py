"""Scale-out with ``torch.distributed``: each rank extracts a deterministic shard, features are gathered.

Under ``torchrun --nproc_per_node=K`` (or any multi-node rendezvous: ``--nnodes``, ``--rdzv-endpoint``)
the environment names the rank and world size; ``init_from_environment`` joins the group (NCCL on
CUDA, gloo on CPU). Rank r takes videos r, r + K, r + 2K, …; ``gather`` returns every rank's features
in video order on every rank, so all ranks compute the same FVD as one process would.
"""

from __future__ import annotations

import os

import numpy as np
import torch


def init_from_environment(device: torch.device) -> bool:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1) unless already in one."""
    import torch.distributed as dist

    if dist.is_initialized() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return True


def world() -> tuple[int, int]:
    """(rank, world size) of the current process group, (0, 1) outside one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(indices: list[int], rank: int, size: int) -> list[int]:
    """This rank's share of ``indices``: every ``size``-th one from position ``rank``."""
    return indices[rank::size]


def gather(indices: list[int], features: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Every rank's (indices, features (n, D)) joined in index order, on every rank."""
    import torch.distributed as dist

    size = world()[1]
    if size == 1:
        return indices, features
    parts: list = [None] * size
    dist.all_gather_object(parts, (indices, features))
    pairs = sorted((i, row) for part_indices, part in parts for i, row in zip(part_indices, part, strict=True))
    width = features.shape[1]
    rows = np.stack([row for _, row in pairs]) if pairs else np.empty((0, width), np.float32)
    return [i for i, _ in pairs], rows
