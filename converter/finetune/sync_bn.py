"""BatchNorm whose batch statistics are those of the global batch when several processes train.

Without it each process would normalise by the statistics of its own few clips, and N processes with
batch b would train a different model than one process with batch N*b. I3D's BatchNorm has no gamma,
which ``nn.SyncBatchNorm`` cannot express, hence this small one: the mean, then the variance around
it, are summed over processes with the autograd-aware ``all_reduce`` (its backward sums the gradients
the same way), in two passes like ``F.batch_norm``. Parameter and buffer names stay those of
``BatchNorm``, so state dicts do not change.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn

from converter.models.i3d import BatchNorm


class SyncBatchNorm(BatchNorm):
    """``BatchNorm`` with statistics over all processes in training mode; identical in eval mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        xf = x.float()  # statistics in float32, also under bf16 autocast
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() // x.shape[1]], dtype=xf.dtype, device=x.device)
        total = dist_fn.all_reduce(torch.cat([xf.sum(dims), count]))
        n = total[-1]
        mean = total[:-1] / n
        centred = xf - mean.view(shape)
        var = dist_fn.all_reduce(centred.square().sum(dims)) / n
        with torch.no_grad():
            self.running_mean.lerp_(mean.to(self.running_mean.dtype), self.momentum)
            self.running_var.lerp_((var * n / (n - 1).clamp(min=1)).to(self.running_var.dtype), self.momentum)
        scale = torch.rsqrt(var + self.eps) if self.weight is None else torch.rsqrt(var + self.eps) * self.weight
        out = centred * scale.view(shape) + self.bias.view(shape)
        return out.to(x.dtype)


def convert_sync_batchnorm(module: nn.Module) -> None:
    """Replace every ``BatchNorm`` under ``module`` by a ``SyncBatchNorm`` with the same state (in place)."""
    if not dist.is_initialized():
        raise RuntimeError("SyncBatchNorm needs an initialised process group")
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is BatchNorm:
                scale = child.weight is not None
                sync = SyncBatchNorm(child.bias.shape[0], eps=child.eps, momentum=child.momentum, scale=scale)
                sync.load_state_dict(child.state_dict())
                sync.bias.requires_grad_(child.bias.requires_grad)
                if scale:
                    sync.weight.requires_grad_(child.weight.requires_grad)
                sync.to(device=child.bias.device, dtype=child.bias.dtype)
                sync.train(child.training)
                setattr(parent, name, sync)
