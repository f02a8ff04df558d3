"""The process group is destroyed on every exit path: a gloo group alive at exit aborts torchrun ranks."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from converter import distributed


@pytest.fixture
def one_process_group(monkeypatch, tmp_path):
    """``join`` believes torchrun started two processes; the group it opens is a real gloo group of one."""
    store = dist.FileStore(str(tmp_path / "store"), 1)
    real_init = dist.init_process_group
    monkeypatch.setattr(distributed, "launched_world_size", lambda: 2)
    monkeypatch.setattr(
        dist, "init_process_group", lambda backend: real_init(backend, store=store, rank=0, world_size=1)
    )
    yield
    distributed.leave()


@pytest.mark.parametrize("error", [RuntimeError("a rank failed"), KeyboardInterrupt()])
def test_the_group_is_destroyed_when_the_work_fails(one_process_group, error) -> None:
    with pytest.raises(type(error)), distributed.process_group(torch.device("cpu")) as joined:
        assert joined and dist.is_initialized() and distributed.world() == (0, 1)
        raise error
    assert not dist.is_initialized()


def test_a_group_opened_by_the_caller_is_left_to_it(one_process_group) -> None:
    assert distributed.join(torch.device("cpu"))
    with distributed.process_group(torch.device("cpu")) as joined:
        assert not joined
    assert dist.is_initialized()
    distributed.leave()
    distributed.leave()  # twice is harmless
    assert not dist.is_initialized()


def test_one_process_joins_nothing() -> None:
    with distributed.process_group(torch.device("cpu")) as joined:
        assert not joined and distributed.world() == (0, 1)


def test_sigterm_stops_the_work_and_destroys_the_group(one_process_group) -> None:
    """torchrun stops the other ranks with SIGTERM when one fails: it becomes ``Stopped``, once."""
    import os
    import signal
    import time

    before = signal.getsignal(signal.SIGTERM)
    with (
        pytest.raises(distributed.Stopped, match="stopped by the launcher"),
        distributed.process_group(torch.device("cpu")),
    ):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(60)  # interrupted at once
    assert not dist.is_initialized() and signal.getsignal(signal.SIGTERM) == before
