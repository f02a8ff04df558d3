"""The PyTorch I3D: names and shapes from the spec, TF 'SAME' padding, BatchNorm, Logits, endpoints."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from converter.models import i3d_spec, tf_same
from converter.models.i3d import BatchNorm, InceptionI3d


def meta_model(**config) -> InceptionI3d:
    """An eval-mode model on the meta device: shapes without computation or initialisation."""
    with torch.device("meta"):
        return InceptionI3d(**config).eval()


MIXED_LAST_UNITS = (
    "Branch_0.Conv3d_0a_1x1",
    "Branch_1.Conv3d_0b_3x3",
    "Branch_2.Conv3d_0b_3x3",
    "Branch_3.Conv3d_0b_1x1",
)


def endpoint_channels(name: str, num_classes: int) -> int:
    """Channels at an endpoint, read off the parameter shapes of the layer that produces it."""
    shapes = i3d_spec.parameter_shapes(num_classes)
    names = list(i3d_spec.ENDPOINTS)
    for producer in reversed(names[: names.index(name) + 1]):
        if producer.startswith("Mixed"):
            return sum(shapes[f"{producer}.{unit}.bn.bias"][0] for unit in MIXED_LAST_UNITS)
        if producer.startswith("Conv3d"):
            return shapes[f"{producer}.bn.bias"][0]
    raise AssertionError(name)


@pytest.mark.parametrize(("num_classes", "in_channels"), [(400, 3), (600, 2)])
def test_state_dict_is_exactly_the_spec(num_classes, in_channels) -> None:
    model = InceptionI3d(num_classes, in_channels)
    got = [(key, tuple(value.shape)) for key, value in model.state_dict().items()]
    assert got == list(i3d_spec.parameter_shapes(num_classes, in_channels).items())
    assert all(value.dtype == torch.float32 for value in model.state_dict().values())


@pytest.mark.parametrize("thw", [(79, 224, 224), (33, 200, 200), (9, 193, 224)])
def test_every_endpoint_shape(thw) -> None:
    """Shapes only, on the meta device: nothing is computed."""
    model = meta_model(num_classes=11)
    found = model.endpoints(torch.empty(2, 3, *thw, device="meta"), i3d_spec.ENDPOINTS)
    assert list(found) == list(i3d_spec.ENDPOINTS)
    for name in i3d_spec.ENDPOINTS[:-1]:
        assert found[name].shape[:2] == (2, endpoint_channels(name, 11)), name
        assert tuple(found[name].shape[2:]) == i3d_spec.endpoint_size(name, thw), name
    assert found["Logits"].shape == (2, 11)


def test_known_shapes_at_79x224() -> None:
    clip = torch.empty(1, 3, 79, 224, 224, device="meta")
    found = meta_model().endpoints(clip, i3d_spec.ENDPOINTS)
    assert found["Conv3d_1a_7x7"].shape == (1, 64, 40, 112, 112)
    assert found["Mixed_3c"].shape == (1, 480, 40, 28, 28)
    assert found["Mixed_4f"].shape == (1, 832, 20, 14, 14)
    assert found["Mixed_5c"].shape == (1, 1024, 10, 7, 7)
    assert found["Logits"].shape == (1, 400)


def test_tiny_inputs_reach_mixed_5c() -> None:
    model = InceptionI3d().eval()
    with torch.no_grad():
        for thw in [(1, 1, 1), (2, 3, 5), (8, 1, 9)]:
            out = model.endpoints(torch.rand(1, 3, *thw) * 2 - 1, ["Mixed_5c"])["Mixed_5c"]
            assert out.shape == (1, 1024, *i3d_spec.endpoint_size("Mixed_5c", thw))
            assert torch.isfinite(out).all()


@pytest.mark.parametrize("thw", [(8, 224, 224), (9, 192, 200), (9, 200, 225), (16, 256, 256)])
def test_logits_of_an_unsupported_size_is_a_clear_error(thw) -> None:
    model = meta_model()
    with pytest.raises(ValueError, match=r"at least 9 frames and height/width in 193\.\.224"):
        model(torch.empty(1, 3, *thw, device="meta"))
    assert "Mixed_5c" in model.endpoints(torch.empty(1, 3, *thw, device="meta"), ["Mixed_5c"])


def test_bad_requests_are_clear_errors() -> None:
    model = meta_model()
    with pytest.raises(ValueError, match="unknown endpoints \\['Mixed_6a'\\]; valid: Conv3d_1a_7x7, "):
        model.endpoints(torch.empty(1, 3, 9, 224, 224, device="meta"), ["Mixed_3b", "Mixed_6a"])
    with pytest.raises(ValueError, match=r"expected input \(B, 3, T, H, W\), got \(1, 2, 9, 224, 224\)"):
        model(torch.empty(1, 2, 9, 224, 224, device="meta"))


def test_endpoints_stop_after_the_last_requested() -> None:
    model = meta_model()
    ran = []
    for name, module in model.named_children():
        module.register_forward_hook(lambda module, args, out, name=name: ran.append(name))
    found = model.endpoints(torch.empty(1, 3, 4, 32, 32, device="meta"), ["Conv3d_2b_1x1", "Conv3d_1a_7x7"])
    assert set(found) == {"Conv3d_2b_1x1", "Conv3d_1a_7x7"}
    assert ran == ["Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1"]


def test_batch_norm_is_sonnets() -> None:
    torch.manual_seed(0)
    bn = BatchNorm(5)
    assert [name for name, _ in bn.named_parameters()] == ["bias"]
    assert (bn.eps, bn.momentum) == (1e-3, 0.001)
    with torch.no_grad():
        bn.bias.normal_()
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.001, 2)
    x = torch.randn(2, 5, 3, 4, 4)
    mean, var, beta = (t.view(1, 5, 1, 1, 1) for t in (bn.running_mean, bn.running_var, bn.bias))
    want = (x - mean) / torch.sqrt(var + 1e-3) + beta
    torch.testing.assert_close(bn.eval()(x), want, rtol=1e-6, atol=1e-6)
    old_mean = bn.running_mean.clone()
    bn.train()(x)
    torch.testing.assert_close(bn.running_mean, 0.999 * old_mean + 0.001 * x.mean(dim=(0, 2, 3, 4)))


def test_the_unit_scale_cuda_passes_as_weight_changes_nothing() -> None:
    """CUDA runs BatchNorm with ``unit_scale`` as its weight (cuDNN's backward fails without one); the
    values and gradients are those of no weight, and the state_dict does not hold it."""
    import torch.nn.functional as F

    bn = BatchNorm(4).train()
    assert "unit_scale" not in bn.state_dict() and torch.equal(bn.unit_scale, torch.ones(4))
    x = torch.randn(2, 4, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    outputs, grads = [], []
    for weight in (None, bn.unit_scale):
        bias = bn.bias.detach().clone().requires_grad_()
        y = F.batch_norm(x, torch.zeros(4), torch.ones(4), weight, bias, True, 0.0, bn.eps)
        (y * torch.arange(y.numel()).reshape(y.shape)).sum().backward()
        outputs.append(y.detach())
        grads.append(bias.grad)
    assert torch.equal(outputs[0], outputs[1]) and torch.equal(grads[0], grads[1])


def test_bn_momentum_reaches_every_batch_norm() -> None:
    model = InceptionI3d(bn_momentum=0.25)
    momenta = {module.momentum for module in model.modules() if isinstance(module, BatchNorm)}
    assert momenta == {0.25}


def test_logits_pool_conv_and_time_average() -> None:
    torch.manual_seed(0)
    model = InceptionI3d(num_classes=6, dropout=0.5)
    logits = model.get_submodule("Logits")
    conv = model.get_submodule("Logits.Conv3d_0c_1x1.conv")
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.rand(2, 1024, 3, 7, 7)
    pooled = x.unfold(2, 2, 1).mean(dim=(3, 4, 5))  # (2, 1024, 2): the [2, 7, 7] VALID windows
    want = torch.einsum("bct,nc->bnt", pooled, conv.weight[:, :, 0, 0, 0]).mean(dim=2) + conv.bias
    with torch.no_grad():
        torch.testing.assert_close(logits.eval()(x), want, rtol=1e-5, atol=1e-5)
        train_a, train_b = logits.train()(x), logits(x)
    assert not torch.equal(train_a, train_b), "dropout should be active in training"


def test_replace_logits_keeps_the_rest() -> None:
    model = InceptionI3d().double()
    before = {key: value for key, value in model.state_dict().items() if not key.startswith("Logits")}
    model.replace_logits(10)
    after = model.state_dict()
    assert model.num_classes == 10
    assert [(k, tuple(v.shape)) for k, v in after.items()] == list(i3d_spec.parameter_shapes(10).items())
    assert all(after[key] is value or torch.equal(after[key], value) for key, value in before.items())
    assert after["Logits.Conv3d_0c_1x1.conv.weight"].dtype == torch.float64


def test_channels_last_input_gives_the_same_result() -> None:
    torch.manual_seed(0)
    model = InceptionI3d().eval()
    x = torch.rand(1, 3, 6, 30, 29) * 2 - 1
    with torch.no_grad():
        plain = model.endpoints(x, ["Mixed_3b"])["Mixed_3b"]
        cl = model.to(memory_format=torch.channels_last_3d)
        last = cl.endpoints(x.to(memory_format=torch.channels_last_3d), ["Mixed_3b"])["Mixed_3b"]
    torch.testing.assert_close(last, plain, rtol=1e-5, atol=1e-5)


# --- TF 'SAME' padding helpers against a brute-force reading of the definition ---------------------


def brute_force_same(x: torch.Tensor, kernel: tuple, stride: tuple, fill: float) -> torch.Tensor:
    """Every window of TF 'SAME': out = ceil(n/s), total = max((out-1)s + k - n, 0), before = total // 2.

    Returns (B, C, oT, oH, oW, kT, kH, kW) windows of ``x`` padded with ``fill``.
    """
    outs, befores, padded_sizes = [], [], []
    for n, k, s in zip(x.shape[2:], kernel, stride, strict=True):
        out = math.ceil(n / s)
        total = max((out - 1) * s + k - n, 0)
        outs.append(out)
        befores.append(total // 2)
        padded_sizes.append(n + total)
    padded = torch.full((*x.shape[:2], *padded_sizes), fill, dtype=x.dtype)
    bt, bh, bw = befores
    padded[:, :, bt : bt + x.shape[2], bh : bh + x.shape[3], bw : bw + x.shape[4]] = x
    windows = torch.empty(*x.shape[:2], *outs, *kernel, dtype=x.dtype)
    for i in range(outs[0]):
        for j in range(outs[1]):
            for m in range(outs[2]):
                t, h, w = i * stride[0], j * stride[1], m * stride[2]
                windows[:, :, i, j, m] = padded[:, :, t : t + kernel[0], h : h + kernel[1], w : w + kernel[2]]
    return windows


def padding_cases():
    """Every size 1..11, kernel 1..4 and stride 1..3 on each axis, plus random mixes of all three axes."""
    for axis in range(3):
        for n in range(1, 12):
            for k in range(1, 5):
                for s in range(1, 4):
                    sizes, kernel, stride = [3, 2, 3], [1, 2, 1], [1, 1, 2]
                    sizes[axis], kernel[axis], stride[axis] = n, k, s
                    yield tuple(sizes), tuple(kernel), tuple(stride)
    gen = torch.Generator().manual_seed(0)
    for _ in range(60):
        yield (
            tuple(torch.randint(1, 12, (3,), generator=gen).tolist()),
            tuple(torch.randint(1, 5, (3,), generator=gen).tolist()),
            tuple(torch.randint(1, 4, (3,), generator=gen).tolist()),
        )


def test_same_padding_helpers_match_the_definition() -> None:
    torch.manual_seed(0)
    for sizes, kernel, stride in padding_cases():
        x = torch.randn(1, 2, *sizes, dtype=torch.float64)
        weight = torch.randn(3, 2, *kernel, dtype=torch.float64)
        case = f"sizes {sizes} kernel {kernel} stride {stride}"
        conv_windows = brute_force_same(x, kernel, stride, 0.0)
        want_conv = torch.einsum("bcdhwxyz,ocxyz->bodhw", conv_windows, weight)
        torch.testing.assert_close(tf_same.conv3d_same(x, weight, None, stride), want_conv, msg=case)
        want_pool = brute_force_same(x, kernel, stride, -math.inf).amax(dim=(-3, -2, -1))
        assert torch.equal(tf_same.max_pool3d_same(x, kernel, stride), want_pool), case


def test_same_padding_for_every_i3d_layer_at_79x224() -> None:
    """The asymmetric cases TF produces for the sample clip: extra padding always goes after."""
    assert tf_same.same_padding(79, 7, 2) == (3, 3)
    assert tf_same.same_padding(224, 7, 2) == (2, 3)
    assert tf_same.same_padding(112, 3, 2) == (0, 1)
    assert tf_same.same_padding(40, 3, 2) == (0, 1)
    assert tf_same.same_padding(14, 2, 2) == (0, 0)
    assert tf_same.same_padding(5, 1, 1) == (0, 0)


@pytest.mark.parametrize(("thw", "pads"), [((9, 33, 33), 0), ((8, 32, 32), 1)])
def test_padding_copies_only_where_asymmetric(monkeypatch, thw, pads) -> None:
    """Symmetric padding goes into the op, asymmetric max-pools use ceil_mode: only the stem may copy."""
    calls = []
    real_pad = F.pad

    def counting_pad(x, pad, *args, **kwargs):
        calls.append(pad)
        return real_pad(x, pad, *args, **kwargs)

    monkeypatch.setattr(tf_same.F, "pad", counting_pad)
    meta_model().endpoints(torch.empty(1, 3, *thw, device="meta"), ["Mixed_5c"])
    assert len(calls) == pads, calls
