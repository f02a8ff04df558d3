"""DenseNet-121/161/169/201 in 2D with torchvision's parameter names, and their inflated 3D builder.

Defined here so a torchvision ``densenet121-*.pth`` state_dict loads without torchvision. Those
checkpoints predate the current names (``denselayer1.norm.1.weight`` for ``denselayer1.norm1.weight``);
``torchvision_names`` renames them as torchvision's own loader does, so both spellings are accepted.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from converter.errors import ConversionError
from converter.inflate.layers import Time, inflate_, transfer_weights

# variant -> (growth rate, layers per dense block, stem channels); bottleneck width is 4 x growth.
VARIANTS = {
    121: (32, (6, 12, 24, 16), 64),
    161: (48, (6, 12, 36, 24), 96),
    169: (32, (6, 12, 32, 32), 64),
    201: (32, (6, 12, 48, 32), 64),
}
BN_SIZE = 4
_LEGACY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)


def torchvision_names(state: Mapping[str, Any], source: str | None = None) -> dict[str, Any]:
    """``state`` with legacy ``norm.1``/``conv.2`` keys renamed to ``norm1``/``conv2``.

    A key present under both spellings would be used twice: that is refused.
    """
    renamed: dict[str, Any] = {}
    for key, value in state.items():
        match = _LEGACY.match(key)
        new_key = match.group(1) + match.group(2) if match else key
        if new_key in renamed:
            raise ConversionError(source, f"{new_key!r} is present under both its legacy and current names")
        renamed[new_key] = value
    return renamed


class DenseLayer(nn.Module):
    def __init__(self, in_channels: int, growth_rate: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, BN_SIZE * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(BN_SIZE * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(BN_SIZE * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.relu1(self.norm1(x)))
        return self.conv2(self.relu2(self.norm2(x)))


class DenseBlock(nn.ModuleDict):
    def __init__(self, layers: int, in_channels: int, growth_rate: int) -> None:
        super().__init__(
            {f"denselayer{i + 1}": DenseLayer(in_channels + i * growth_rate, growth_rate) for i in range(layers)}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(OrderedDict(
            norm=nn.BatchNorm2d(in_channels),
            relu=nn.ReLU(inplace=True),
            conv=nn.Conv2d(in_channels, out_channels, 1, bias=False),
            pool=nn.AvgPool2d(2, 2),
        ))  # fmt: skip


class DenseNet(nn.Module):
    """torchvision's ``densenet{121,161,169,201}`` (no dropout): same modules, names, shapes, forward."""

    def __init__(self, variant: int = 121, num_classes: int = 1000) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"DenseNet variant {variant} is not one of {sorted(VARIANTS)}")
        growth_rate, block_layers, channels = VARIANTS[variant]
        self.features = nn.Sequential(OrderedDict(
            conv0=nn.Conv2d(3, channels, 7, 2, 3, bias=False),
            norm0=nn.BatchNorm2d(channels),
            relu0=nn.ReLU(inplace=True),
            pool0=nn.MaxPool2d(3, 2, 1),
        ))  # fmt: skip
        for i, layers in enumerate(block_layers, start=1):
            self.features.add_module(f"denseblock{i}", DenseBlock(layers, channels, growth_rate))
            channels += layers * growth_rate
            if i < len(block_layers):
                self.features.add_module(f"transition{i}", Transition(channels, channels // 2))
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(F.relu(self.features(x)), 1)
        return self.classifier(torch.flatten(x, 1))


class DenseNet3d(DenseNet):
    """Inflated DenseNet: (B, 3, T, H, W) -> logits averaged over time, under torchvision's names.

    Time design: ``features.conv0`` gets a ``time_kernel`` (default 3) and ``time_stride`` (default 1);
    each dense layer's 3x3 ``conv2`` gets ``block_time_kernel`` (default 1); every other layer has time
    kernel 1 and stride 1 (transitions halve space, not time), so T is only reduced by
    ``time_stride``. Time padding is ``kernel // 2``, with zeros or copies of the border frames
    (``time_padding_mode``). ``classifier`` becomes a 1x1x1 Conv3d applied at every time step;
    ``forward`` averages those logits over time.
    """

    def __init__(
        self,
        variant: int = 121,
        num_classes: int = 1000,
        time_kernel: int = 3,
        time_stride: int = 1,
        block_time_kernel: int = 1,
        time_padding_mode: str = "zeros",
    ) -> None:
        with torch.device("meta"):  # the 2D skeleton only lends its structure: allocate nothing
            super().__init__(variant, num_classes)
        stem = Time(time_kernel, time_stride, padding_mode=time_padding_mode)
        block = Time(block_time_kernel, padding_mode=time_padding_mode)
        keep = Time(padding_mode=time_padding_mode)

        def plan(name: str, layer: nn.Module) -> Time:
            if name == "features.conv0":
                return stem
            return block if "denseblock" in name and name.endswith(".conv2") else keep

        inflate_(self, plan)

    def time_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> (B, num_classes, T') logits at each remaining time step."""
        x = F.adaptive_avg_pool3d(F.relu(self.features(x)), (None, 1, 1))
        return self.classifier(x).flatten(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.time_logits(x).mean(2)

    def replace_logits(self, num_classes: int) -> None:
        """A fresh classifier for fine-tuning on ``num_classes`` classes."""
        self.classifier = nn.Conv3d(self.classifier.in_channels, num_classes, 1)

    def load_2d(self, state2d: Mapping[str, Any], init: str = "center", source: str | None = None) -> None:
        """Fill this network from a torchvision DenseNet state_dict, legacy names accepted (strict)."""
        transfer_weights(torchvision_names(state2d, source), self, init, source)
