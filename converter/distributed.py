"""The ``torch.distributed`` process group torchrun describes: joined once, destroyed on every exit path.

torchrun (``--nproc_per_node=K``, and ``--nnodes``/``--rdzv-endpoint`` across machines) sets
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; every process then runs the same command. CPU runs use the
gloo backend, GPU runs NCCL with one GPU per process. A gloo group still alive when the interpreter
exits aborts the process ("terminate called without an active exception", SIGABRT) while its threads
are torn down, so the group is destroyed when the work ends (``process_group``) and, as a backstop for
API users who only called ``join``, at interpreter exit.

When one rank fails (exits non-zero), torchrun's agent stops the others with SIGTERM (then SIGKILL after
30 s). Inside ``process_group`` that SIGTERM raises ``Stopped``, so every rank's ``finally`` blocks run
(temporary files and claims removed, the group destroyed) before it exits, and the failing rank's own
message stays the job's error.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
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


class Stopped(KeyboardInterrupt):
    """SIGTERM inside ``process_group``: the launcher stops this rank (torchrun does when another fails).

    A KeyboardInterrupt, so ``except Exception`` handlers let it through to the ``finally`` blocks.
    """


def _stop(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second SIGTERM must not cut the clean-up short
    rank = os.environ.get("RANK", "?")
    raise Stopped(f"rank {rank}: stopped by the launcher (SIGTERM; under torchrun: another rank failed)")


def leave() -> None:
    """Destroy the default process group (and every subgroup) if one is up; safe to call twice."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def process_group(device: torch.device) -> Iterator[bool]:
    """``join`` for the block, then destroy the group on every exit path (errors, KeyboardInterrupt).

    Yields whether this call joined; a group someone else opened is left to them. Meanwhile SIGTERM raises
    ``Stopped`` (module doc) when called from the main thread.
    """
    joined = join(device)
    handles = joined and threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if handles else None
    try:
        yield joined
    finally:
        if handles:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
        if joined:
            leave()


def world() -> tuple[int, int]:
    """(rank, world size) of the current process group, (0, 1) outside one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1
