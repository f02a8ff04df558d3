"""I3D's fast paths compute what the plain model computes: BN folding, CPU max-pool, channels-last, bf16."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from converter.models import i3d_spec, tf_same
from converter.models.i3d import BatchNorm, InceptionI3d, MaxPool, Unit3D

CL = torch.channels_last_3d
FEATURES = list(i3d_spec.ENDPOINTS[:-1])


@pytest.fixture
def model(random_state) -> InceptionI3d:
    """Eval-mode I3D with plausible random weights (varied BN statistics, so folding matters)."""
    net = InceptionI3d().eval()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in random_state(seed=3).items()})
    return net


def clip(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def max_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return (got.double() - want.double()).abs().max().item()


def test_fuse_folds_every_batch_norm_into_a_copy(model) -> None:
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fused = model.fuse()
    assert not any(isinstance(m, BatchNorm) for m in fused.modules())
    units = [m for m in fused.modules() if isinstance(m, Unit3D)]
    assert len(units) == len(list(i3d_spec.units())) and all(u.conv.bias is not None for u in units)
    assert not fused.training and not any(p.requires_grad for p in fused.parameters())
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items()), "the original changed"
    assert any(isinstance(m, BatchNorm) for m in model.modules())


@pytest.mark.parametrize(("shape", "names"), [((2, 3, 6, 40, 36), FEATURES), ((1, 3, 9, 193, 193), ["Logits"])])
def test_fused_model_is_within_fp32_rounding(model, shape, names) -> None:
    """Against a float64 run, the fused model errs no more than twice what the unfused fp32 model errs."""
    x = clip(*shape)
    with torch.no_grad():
        exact = model.double().endpoints(x.double(), names)
        plain = model.float().endpoints(x, names)
        fused = model.fuse().endpoints(x, names)
    for name in names:
        scale = exact[name].abs().max().item()
        plain_error, fused_error = max_error(plain[name], exact[name]), max_error(fused[name], exact[name])
        assert fused_error <= 2 * plain_error + 1e-7 * scale, (name, fused_error, plain_error)
        assert fused_error <= 1e-5 * scale, (name, fused_error, scale)


def test_fold_bn_uses_the_eval_statistics() -> None:
    torch.manual_seed(0)
    unit = Unit3D(4, i3d_spec.Unit(5, (3, 1, 2), (2, 1, 1)), bn_momentum=0.1).eval()
    with torch.no_grad():
        unit.bn.bias.normal_()
        unit.bn.running_mean.normal_(0, 3)
        unit.bn.running_var.uniform_(1e-3, 10)
    x = torch.randn(2, 4, 5, 6, 7, dtype=torch.float64)
    want = unit.double()(x)
    unit.fold_bn()
    assert isinstance(unit.bn, torch.nn.Identity)
    torch.testing.assert_close(unit(x), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "kernel", "stride"),
    [
        ((2, 5, 4, 9, 8), (3, 3, 3), (1, 1, 1)),
        ((1, 3, 5, 11, 10), (1, 3, 3), (1, 2, 2)),
        ((1, 4, 3, 5, 5), (2, 2, 2), (2, 2, 2)),
    ],
)
def test_cpu_max_pool_is_bit_exact_in_any_layout(shape, kernel, stride) -> None:
    """On CPU the pool works and answers in channels-last, whatever it is given; values and gradients
    are exactly those of the plain NCDHW pool."""
    x = torch.randn(shape, requires_grad=True)
    pool = MaxPool(kernel, stride)
    got, want = pool(x), tf_same.max_pool3d_same(x, kernel, stride)
    assert torch.equal(got, want) and got.is_contiguous(memory_format=CL)
    (grad,) = torch.autograd.grad(got.sum(), x)
    (want_grad,) = torch.autograd.grad(want.sum(), x)
    assert torch.equal(grad, want_grad)
    last = pool(x.detach().contiguous(memory_format=CL))
    assert torch.equal(last, want) and last.is_contiguous(memory_format=CL)


class OpLog(TorchDispatchMode):
    """Records the name of every aten op that runs."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("fused", [False, True])
def test_channels_last_runs_end_to_end_without_layout_copies(monkeypatch, fused) -> None:
    """With convs that return channels-last (as cuDNN does; CPU convs here return NCDHW), every other
    layer keeps that layout and nothing copies between layouts. Shapes only, on the meta device."""
    real_conv3d = F.conv3d

    def cudnn_like_conv3d(*args, **kwargs):
        return torch.empty_like(real_conv3d(*args, **kwargs), memory_format=CL)

    monkeypatch.setattr(tf_same.F, "conv3d", cudnn_like_conv3d)
    with torch.device("meta"):
        net = InceptionI3d().eval()
    net = (net.fuse() if fused else net).to(memory_format=CL)
    x = torch.empty(2, 3, 16, 224, 224, device="meta").to(memory_format=CL)
    with OpLog() as log:
        found = net.endpoints(x, FEATURES)
    assert all(found[name].is_contiguous(memory_format=CL) for name in FEATURES)
    copies = [op for op in log.ops if op in ("aten.clone", "aten._to_copy", "aten.copy_", "aten.contiguous")]
    assert copies == [], copies
    assert log.ops.count("aten.constant_pad_nd") == 1  # the stem's asymmetric TF padding, nothing else


def test_bf16_autocast_stays_close_to_fp32(model) -> None:
    """bf16 keeps 8 significant bits; through ~20 stacked units Mixed_5c stays within 2 % of its range
    (0.7 % measured on this network)."""
    x = clip(1, 3, 8, 48, 48)
    with torch.no_grad():
        want = model.endpoints(x, ["Mixed_5c"])["Mixed_5c"]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = model.endpoints(x, ["Mixed_5c"])["Mixed_5c"]
    assert got.dtype == torch.bfloat16
    assert max_error(got, want) <= 0.02 * want.abs().max().item()


def test_compiles_as_one_graph(model) -> None:
    """``torch.compile(fullgraph=True)`` fails on any graph break; the eager backend keeps this quick."""
    x = clip(1, 3, 4, 24, 24)
    fused = model.fuse()
    compiled = torch.compile(lambda clip: fused.endpoints(clip, ["Mixed_5c"]), fullgraph=True, backend="eager")
    with torch.no_grad():
        got, want = compiled(x)["Mixed_5c"], fused.endpoints(x, ["Mixed_5c"])["Mixed_5c"]
    assert torch.equal(got, want)
