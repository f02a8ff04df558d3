"""Scale-out with ``torch.distributed``: each rank extracts a deterministic shard, features are gathered.

Under ``torchrun --nproc_per_node=K`` (or any multi-node rendezvous: ``--nnodes``, ``--rdzv-endpoint``)
the environment names the rank and world size; ``converter.distributed.process_group`` joins the group
(NCCL on CUDA, gloo on CPU) and destroys it when the work ends. Rank r takes videos r, r + K, r + 2K, …;
``gather`` returns every rank's features in video order on every rank, so all ranks compute the same FVD
as one process would.
"""

from __future__ import annotations

import numpy as np

from converter.distributed import world


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
