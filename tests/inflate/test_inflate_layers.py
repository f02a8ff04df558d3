"""Generic inflation: kernels, layer swaps, and strict weight accounting."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from converter.errors import ConversionError
from converter.inflate import layers
from converter.inflate.layers import Time, inflate, inflate_, inflate_kernel, transfer_weights

TWO_D = (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Linear)


def two_d_layers(model: nn.Module) -> list[str]:
    return [name for name, module in model.named_modules() if isinstance(module, TWO_D)]


class Tiny(nn.Module):
    """Every supported layer type, with spatial strides, padding, biases and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
            nn.Conv2d(8, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
            nn.AvgPool2d(2), nn.Dropout(0.5), nn.AdaptiveAvgPool2d(1),
        )  # fmt: skip
        self.fc = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).flatten(1))


def time_plan(name: str, layer: nn.Module) -> Time:
    """Time kernels on convs and pools, a time stride, and a pool that shrinks T (no padding)."""
    return {
        "body.0": Time(3),
        "body.3": Time(3),
        "body.4": Time(3, stride=2),
        "body.7": Time(3, padding=0),
    }.get(name, Time())


def replicate_plan(name: str, layer: nn.Module) -> Time:
    time = time_plan(name, layer)
    return Time(time.kernel, time.stride, time.padding, padding_mode="replicate")


@pytest.mark.parametrize("weight_shape", [(4, 3, 5, 7), (4, 3)])
@pytest.mark.parametrize("time", [1, 3, 5])
def test_inflate_kernel_puts_the_2d_kernel_in_time(weight_shape: tuple, time: int) -> None:
    weight = torch.randn(weight_shape)
    spatial = weight.reshape(4, 3, *(weight_shape[2:] or (1, 1)))
    center = inflate_kernel(weight, time, "center")
    mean = inflate_kernel(weight, time, "mean")
    assert center.shape == mean.shape == (4, 3, time, *spatial.shape[2:])
    for t in range(time):
        assert torch.equal(center[:, :, t], spatial if t == time // 2 else torch.zeros_like(spatial))
        torch.testing.assert_close(mean[:, :, t] * time, spatial)
    torch.testing.assert_close(mean.sum(2), spatial)


def test_inflate_kernel_refuses_unknown_init() -> None:
    with pytest.raises(ValueError, match="init"):
        inflate_kernel(torch.ones(2, 2, 3, 3), 3, "zeros")


@pytest.mark.parametrize("init,plan", [("center", time_plan), ("mean", replicate_plan), ("center", replicate_plan)])
def test_generic_inflation_matches_2d_on_a_still_clip(init, plan, nontrivial, relative_error) -> None:
    torch.manual_seed(0)
    model2d = nontrivial(Tiny())
    model3d = inflate(model2d, plan, init).eval()
    assert two_d_layers(model3d) == []
    image = torch.randn(2, 3, 32, 32)
    clip = image.unsqueeze(2).expand(-1, -1, 8, -1, -1)
    with torch.no_grad():
        want = model2d(image)
        got = model3d.fc(model3d.body(clip)).flatten(2)  # (B, classes, T'): T 8 -> 4 (stride) -> 2 (pool)
    assert got.shape == (2, 5, 2)
    assert relative_error(got, want.unsqueeze(2).expand_as(got)) <= 1e-5


def test_inflate_keeps_the_2d_module_and_its_names(nontrivial) -> None:
    model2d = nontrivial(Tiny())
    before = {k: v.clone() for k, v in model2d.state_dict().items()}
    model3d = inflate(model2d, time_plan)
    assert two_d_layers(model2d) == two_d_layers(Tiny())  # untouched
    assert all(torch.equal(before[k], v) for k, v in model2d.state_dict().items())
    assert list(model3d.state_dict()) == list(before)
    assert model3d.body[0].weight.shape == (8, 3, 3, 3, 3)
    assert model3d.fc.weight.shape == (5, 6, 1, 1, 1)


def test_replicate_padding_pads_time_only() -> None:
    conv = inflate_(nn.Conv2d(1, 1, 3, padding=1, bias=False), lambda n, m: Time(3, padding_mode="replicate"))
    assert isinstance(conv, layers.ReplicateTimeConv3d)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        out = conv(torch.ones(1, 1, 2, 3, 3))
    # Replicated frames fill time, zeros fill space: a corner sees 3 frames x 2 x 2 ones.
    assert out[0, 0, 0, 0, 0] == 12 and out[0, 0, 0, 1, 1] == 27


def test_every_3d_tensor_is_filled_from_its_2d_tensor(nontrivial) -> None:
    model2d = nontrivial(Tiny())
    model3d = inflate_(copy.deepcopy(model2d), time_plan)
    with torch.no_grad():
        for tensor in model3d.state_dict().values():
            tensor.fill_(float("nan") if tensor.is_floating_point() else -1)
    transfer_weights(model2d.state_dict(), model3d, "center")
    state2d = model2d.state_dict()
    for name, tensor in model3d.state_dict().items():
        source = state2d[name]
        if tensor.dim() == 5:
            middle = tensor.shape[2] // 2
            assert torch.equal(tensor[:, :, middle].reshape(source.shape), source), name
            assert torch.count_nonzero(tensor.sum(2) - tensor[:, :, middle]) == 0, name
        else:
            assert torch.equal(tensor, source), name


def test_an_inflater_that_skips_a_layer_is_refused(monkeypatch) -> None:
    monkeypatch.delitem(layers._INFLATERS, nn.AvgPool2d)
    with pytest.raises(ConversionError, match=r"layer 'body\.7' \(AvgPool2d\) has no 3D counterpart"):
        inflate(Tiny(), time_plan)


def test_a_layer_left_2d_is_caught_by_the_structure_check_and_the_forward(nontrivial) -> None:
    model3d = inflate(nontrivial(Tiny()), time_plan)
    model3d.body[5] = nn.BatchNorm2d(6).eval()  # weights of the same shape: accounting alone cannot see it
    transfer_weights(nontrivial(Tiny()).state_dict(), model3d)
    assert two_d_layers(model3d) == ["body.5"]
    with pytest.raises(ValueError, match="expected 4D input"):
        model3d.body(torch.zeros(1, 3, 4, 32, 32))


def _tiny_pair() -> tuple[dict, nn.Module]:
    model2d = Tiny()
    return dict(model2d.state_dict()), inflate_(copy.deepcopy(model2d), time_plan)


def test_missing_2d_weight_is_an_error_and_nothing_is_loaded() -> None:
    state, model3d = _tiny_pair()
    before = {k: v.clone() for k, v in model3d.state_dict().items()}
    del state["body.4.bias"], state["body.5.running_var"]
    with pytest.raises(ConversionError, match=r"^w\.pth: 2 missing .*body\.4\.bias.*body\.5\.running_var"):
        transfer_weights(state, model3d, "mean", source="w.pth")
    assert all(torch.equal(before[k], v) for k, v in model3d.state_dict().items())


def test_unexpected_2d_weight_is_an_error() -> None:
    state, model3d = _tiny_pair()
    state["head.extra.weight"] = torch.zeros(3)
    with pytest.raises(ConversionError, match=r"1 unexpected .*head\.extra\.weight"):
        transfer_weights(state, model3d)


@pytest.mark.parametrize(
    "name,value",
    [
        ("body.0.weight", torch.zeros(8, 3, 5, 5)),
        ("fc.weight", torch.zeros(5, 7)),
        ("body.1.weight", torch.zeros(9)),
        ("fc.bias", [0.0] * 5),
    ],
)
def test_mis_shaped_2d_weight_is_an_error(name: str, value) -> None:
    state, model3d = _tiny_pair()
    state[name] = value
    with pytest.raises(ConversionError, match=rf"1 shape mismatches .*{name}"):
        transfer_weights(state, model3d)


def test_missing_num_batches_tracked_is_tolerated(nontrivial) -> None:
    model2d = nontrivial(Tiny())
    state = {k: v for k, v in model2d.state_dict().items() if not k.endswith("num_batches_tracked")}
    model3d = inflate_(copy.deepcopy(model2d), time_plan)
    transfer_weights(state, model3d)
    assert model3d.body[1].num_batches_tracked == 0
    assert torch.equal(model3d.body[1].running_var, model2d.body[1].running_var)


@pytest.mark.parametrize(
    "layer,message",
    [(nn.Conv1d(2, 2, 3), "no 3D counterpart"), (nn.Dropout2d(), "no 3D counterpart"),
     (type("MyConv", (nn.Conv2d,), {})(2, 2, 3), "no 3D counterpart"),
     (nn.Conv2d(2, 2, 3, padding="same"), "padding")],
)  # fmt: skip
def test_unsupported_layers_are_refused(layer: nn.Module, message: str) -> None:
    with pytest.raises(ConversionError, match=rf"layer 'body\.1' .*{message}"):
        inflate_(nn.ModuleDict({"body": nn.Sequential(nn.ReLU(), layer)}))


@pytest.mark.parametrize("layer", [nn.BatchNorm2d(3), nn.AdaptiveAvgPool2d(1)])
def test_layers_that_keep_time_refuse_a_time_kernel(layer: nn.Module) -> None:
    with pytest.raises(ConversionError, match="keeps time"):
        inflate_(layer, lambda name, module: Time(3))


@pytest.mark.parametrize(
    "kwargs", [{"kernel": 0}, {"kernel": 2}, {"stride": 0}, {"padding": -1}, {"padding_mode": "reflect"}]
)
def test_invalid_time_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Time(**kwargs)


def test_transfer_refuses_unknown_init() -> None:
    state, model3d = _tiny_pair()
    with pytest.raises(ValueError, match="init"):
        transfer_weights(state, model3d, "random")
