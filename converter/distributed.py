"""The ``torch.distributed`` process group torchrun describes: joined once, destroyed on every exit path.

torchrun (``--nproc_per_node=K``, and ``--nnodes``/``--rdzv-endpoint`` across machines) sets
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; every process then runs the same command. CPU runs use the
gloo backend, GPU runs NCCL with one GPU per process. A gloo group still alive when the interpreter
exits aborts the process ("terminate called without an active exception", SIGABRT) while its threads
are torn down, so the group is destroyed when the work ends (``process_group``) and, as a backstop for
API users who only called ``join``, at interpreter exit.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def launched_world_size() -> int:
    """How many processes the launcher started (``WORLD_SIZE``; 1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def join(device: torch.device) -> bool:
    """Join the group torchrun describes unless one is up or there is a single process; True if joined.

    ``device`` picks the backend (NCCL for CUDA, whose collectives run on it, else gloo).
    """
    import torch.distributed as dist

    if dist.is_initialized() or launched_world_size() <= 1:
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    atexit.register(leave)
    return True


def leave() -> None:
    """Destroy the default process group (and every subgroup) if one is up; safe to call twice."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def process_group(device: torch.device) -> Iterator[bool]:
    """``join`` for the block, then destroy the group on every exit path (errors, KeyboardInterrupt).

    Yields whether this call joined; a group someone else opened is left to them.
    """
    joined = join(device)
    try:
        yield joined
    finally:
        if joined:
            leave()


def world() -> tuple[int, int]:
    """(rank, world size) of the current process group, (0, 1) outside one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1
