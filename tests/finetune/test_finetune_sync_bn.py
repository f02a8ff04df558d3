"""Two gloo processes with SyncBatchNorm compute what one BatchNorm computes on their joint batch."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from converter.finetune.sync_bn import SyncBatchNorm, convert_sync_batchnorm
from converter.models.i3d import BatchNorm


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 5, 3, 4, 4, generator=generator) * 3 + 1
    bias = torch.randn(5, generator=generator)
    weight = torch.randn(4, 5, 3, 4, 4, generator=generator)  # a loss that is not symmetric in the samples
    return x, bias, weight


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        x, bias, weight = _batch()
        holder = torch.nn.Sequential(BatchNorm(5, momentum=0.1))
        holder[0].bias.data.copy_(bias)
        convert_sync_batchnorm(holder)
        part = slice(2 * rank, 2 * rank + 2)
        x_part = x[part].clone().requires_grad_(True)
        y = holder(x_part)
        (y * weight[part]).sum().backward()
        for p in holder.parameters():  # DDP's job: average the gradients of the processes' losses
            dist.all_reduce(p.grad)
        torch.save(
            {"type": type(holder[0]), "y": y.detach(), "dx": x_part.grad, "dbias": holder[0].bias.grad,
             "state": holder[0].state_dict()},
            Path(out) / f"{rank}.pt",
        )  # fmt: skip
    finally:
        dist.destroy_process_group()


def test_two_processes_match_one_batch(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(port, str(tmp_path)), nprocs=2)
    x, bias, weight = _batch()
    bn = BatchNorm(5, momentum=0.1).train()
    bn.bias.data.copy_(bias)
    x.requires_grad_(True)
    y = bn(x)
    (y * weight).sum().backward()
    parts = [torch.load(tmp_path / f"{rank}.pt", weights_only=False) for rank in range(2)]
    assert parts[0]["type"] is SyncBatchNorm
    torch.testing.assert_close(torch.cat([p["y"] for p in parts]), y.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.cat([p["dx"] for p in parts]), x.grad, rtol=1e-5, atol=1e-5)
    # the gradients summed over processes are the gradient of the summed loss
    torch.testing.assert_close(parts[0]["dbias"], bn.bias.grad, rtol=1e-5, atol=1e-5)
    for key, value in bn.state_dict().items():
        torch.testing.assert_close(parts[0]["state"][key], value, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(parts[1]["state"][key], value, rtol=1e-5, atol=1e-6)


def test_eval_mode_is_plain_batchnorm() -> None:
    bn = SyncBatchNorm(5).eval()
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    plain = BatchNorm(5).eval()
    plain.load_state_dict(bn.state_dict())
    x = torch.randn(2, 5, 3, 4, 4)
    assert torch.equal(bn(x), plain(x))
