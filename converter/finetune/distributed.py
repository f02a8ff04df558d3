"""The process group torchrun describes, or a single process when there is none.

torchrun (``--nproc_per_node=N``, and ``--nnodes``/``--rdzv-endpoint`` across machines) sets
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; every process then runs the same command. CPU runs use
the gloo backend, GPU runs NCCL with one GPU per process (``cuda:LOCAL_RANK``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from converter.distributed import join, launched_world_size, leave
from converter.errors import ConversionError


@dataclass(frozen=True)
class Context:
    """Where this process stands: its rank among ``world`` processes and its device."""

    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        """The process that prints and writes files."""
        return self.rank == 0


def start(device: str = "auto") -> Context:
    """Join torchrun's process group if launched by it (``device``: auto, cpu or cuda)."""
    if device not in ("auto", "cpu", "cuda"):
        raise ConversionError(None, f"unknown device {device!r}; one of auto, cpu, cuda")
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise ConversionError(None, "--device cuda asked for, but no CUDA GPU is available")
    if launched_world_size() == 1:
        return Context(0, 1, torch.device("cuda" if use_cuda else "cpu"))
    where = torch.device(f"cuda:{os.environ['LOCAL_RANK']}" if use_cuda else "cpu")
    join(where)
    return Context(dist.get_rank(), dist.get_world_size(), where)


def stop(context: Context) -> None:
    """Destroy the group ``start`` joined (callers do this in a ``finally``)."""
    if context.world > 1:
        leave()


def sum_all(tensor: torch.Tensor, context: Context) -> torch.Tensor:
    """``tensor`` summed over all processes (in place; returned for convenience)."""
    if context.world > 1:
        dist.all_reduce(tensor)
    return tensor


def barrier(context: Context) -> None:
    if context.world > 1:
        dist.barrier()
