"""The dynamic-pad baseline does the same work as our I3D, the port's way, so the speed ratios are fair."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks import dynamic_pad
from benchmarks.dynamic_pad import DynamicPadI3d
from benchmarks.harness import he_init_
from converter.models import i3d_spec
from converter.models.i3d import BatchNorm, InceptionI3d


def test_baseline_computes_our_logits() -> None:
    torch.manual_seed(0)
    ours = he_init_(InceptionI3d(in_channels=2)).eval()
    for bn in (m for m in ours.modules() if isinstance(m, BatchNorm)):
        bn.bias.data.normal_(0, 0.2)
        bn.running_mean.normal_(0, 0.2)
        bn.running_var.uniform_(0.5, 2)
    baseline = DynamicPadI3d.like(ours)
    assert not baseline.training
    x = torch.rand(1, 2, 9, 193, 200) * 2 - 1
    with torch.inference_mode():
        want, got = ours(x), baseline(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * want.abs().max().item())


def test_baseline_pads_before_every_conv_and_pool(monkeypatch) -> None:
    """One F.pad per conv and per max-pool, whether or not the padding is symmetric or even zero."""
    calls = []
    real_pad = F.pad
    monkeypatch.setattr(dynamic_pad.F, "pad", lambda x, pad, *a, **k: calls.append(pad) or real_pad(x, pad, *a, **k))
    with torch.device("meta"):
        baseline = DynamicPadI3d().eval()
    baseline(torch.empty(1, 3, 16, 224, 224, device="meta"))
    convs = sum(isinstance(m, torch.nn.Conv3d) for m in baseline.modules())
    pools = sum(isinstance(m, torch.nn.MaxPool3d) for m in baseline.modules())
    assert convs == len(list(i3d_spec.units())) + 1 and pools == 13
    assert len(calls) == convs + pools
    assert (0, 0, 0, 0, 0, 0) in calls  # the 1x1x1 convs still copy through F.pad
