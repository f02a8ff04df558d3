"""The common PyTorch port's I3D, rebuilt as the speed baseline every benchmark runs beside ours.

It follows the widely used ``pytorch_i3d.py`` approach layer for layer: every conv and max-pool works
out TF 'SAME' padding from the input size and calls ``F.pad`` first (a full copy of the activation,
even where the padding is symmetric or zero), convs have ``padding=0``, BatchNorm is ``nn.BatchNorm3d``
(with a gamma of ones, eps 1e-3), max-pools pad with zeros (exact here: they all follow a ReLU), and
the memory format is left at the default. Module names match ``InceptionI3d`` so our weights load into
it unchanged and both networks compute the same logits (``test_baseline.py`` checks that), which makes
the timing ratio a like-for-like comparison.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from converter.models import i3d_spec as spec

Triple = tuple[int, int, int]


def dynamic_same_pad(x: torch.Tensor, kernel: Triple, stride: Triple) -> torch.Tensor:
    """Pad ``x`` like TF 'SAME' for ``kernel``/``stride``, always through ``F.pad`` (the port's way)."""
    pads = []
    for size, k, s in zip(x.shape[2:], kernel, stride, strict=True):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads.append((total // 2, total - total // 2))
    (tb, ta), (hb, ha), (wb, wa) = pads
    return F.pad(x, (wb, wa, hb, ha, tb, ta))


class PadConv(nn.Conv3d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(dynamic_same_pad(x, self.kernel_size, self.stride))


class PadMaxPool(nn.MaxPool3d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(dynamic_same_pad(x, self.kernel_size, self.stride))


class Unit(nn.Module):
    def __init__(self, in_channels: int, unit: spec.Unit) -> None:
        super().__init__()
        self.conv = PadConv(in_channels, unit.out_channels, unit.kernel, unit.stride, bias=False)
        self.bn = nn.BatchNorm3d(unit.out_channels, eps=1e-3, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _layer(layer: spec.Unit | spec.MaxPool, in_channels: int) -> nn.Module:
    if isinstance(layer, spec.Unit):
        return Unit(in_channels, layer)
    return PadMaxPool(layer.kernel, layer.stride)


class Mixed(nn.Module):
    def __init__(self, in_channels: int, mixed: spec.Mixed) -> None:
        super().__init__()
        for index, branch in enumerate(mixed.branches):
            layers: OrderedDict[str, nn.Module] = OrderedDict()
            channels = in_channels
            for name, layer in branch:
                layers[name] = _layer(layer, channels)
                channels = spec.out_channels(layer, channels)
            self.add_module(f"Branch_{index}", nn.Sequential(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.children()], dim=1)


class LogitsConv(nn.Module):
    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = PadConv(in_channels, num_classes, (1, 1, 1), (1, 1, 1), bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Logits(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, logits: spec.Logits) -> None:
        super().__init__()
        self.pool = nn.AvgPool3d(logits.pool_kernel, stride=1)
        self.add_module(logits.conv_name, LogitsConv(in_channels, num_classes))
        self.conv_name = logits.conv_name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = getattr(self, self.conv_name)(self.pool(x))
        return x.squeeze(3).squeeze(3).mean(dim=2)


class DynamicPadI3d(nn.Module):
    """I3D as the common port writes it: dynamic ``F.pad`` before every conv and pool."""

    def __init__(self, num_classes: int = 400, in_channels: int = 3) -> None:
        super().__init__()
        channels = in_channels
        for name, layer in spec.LAYERS:
            if isinstance(layer, spec.Mixed):
                module: nn.Module = Mixed(channels, layer)
            elif isinstance(layer, spec.Logits):
                module = Logits(channels, num_classes, layer)
            else:
                module = _layer(layer, channels)
            self.add_module(name, module)
            channels = spec.out_channels(layer, channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x

    @classmethod
    def like(cls, model: nn.Module) -> DynamicPadI3d:
        """A baseline holding ``model``'s (an ``InceptionI3d``'s) weights, on its device and dtype."""
        weight = model.get_submodule("Conv3d_1a_7x7.conv").weight
        baseline = cls(model.num_classes, model.in_channels).to(weight.device, weight.dtype)
        result = baseline.load_state_dict(model.state_dict(), strict=False)
        leftover = [k for k in result.missing_keys if not k.endswith(("bn.weight", "num_batches_tracked"))]
        if leftover or result.unexpected_keys:
            raise ValueError(f"weights do not fit the baseline: {leftover + result.unexpected_keys}")
        return baseline.train(model.training)
