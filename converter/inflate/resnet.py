"""ResNet-50/101/152 in 2D with torchvision's parameter names, and their inflated 3D builder.

The 2D network is torchvision's (Bottleneck, stride on the 3x3 conv: "ResNet v1.5"), defined here so a
torchvision ``resnet50-*.pth`` state_dict loads without torchvision. The 3D network is that 2D one with
its layers inflated in place, so both have the same parameter names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from converter.inflate.layers import Time, inflate_, transfer_weights

BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _stage(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    outplanes = planes * Bottleneck.expansion
    downsample = None
    if stride != 1 or inplanes != outplanes:
        downsample = nn.Sequential(nn.Conv2d(inplanes, outplanes, 1, stride, bias=False), nn.BatchNorm2d(outplanes))
    layers = [Bottleneck(inplanes, planes, stride, downsample)]
    layers += [Bottleneck(outplanes, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet(nn.Module):
    """torchvision's ``resnet{50,101,152}``: same modules, names, shapes and forward."""

    def __init__(self, depth: int = 50, num_classes: int = 1000) -> None:
        super().__init__()
        if depth not in BLOCKS:
            raise ValueError(f"ResNet depth {depth} is not one of {sorted(BLOCKS)}")
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks = BLOCKS[depth]
        self.layer1 = _stage(64, 64, blocks[0], 1)
        self.layer2 = _stage(256, 128, blocks[1], 2)
        self.layer3 = _stage(512, 256, blocks[2], 2)
        self.layer4 = _stage(1024, 512, blocks[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's activations (written without 2D-only calls, so 3D layers run it too)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


class ResNet3d(ResNet):
    """Inflated ResNet: (B, 3, T, H, W) -> logits averaged over time, under torchvision's names.

    Time design: ``conv1`` gets a ``time_kernel`` (default 3) and ``time_stride`` (default 1); each
    Bottleneck's 3x3 conv gets ``block_time_kernel`` (default 1; 3 gives I3D-style 3x3x3 kernels); every
    other layer, pools included, has time kernel 1 and stride 1, so T is only reduced by
    ``time_stride``. Time padding is ``kernel // 2`` (T preserved at stride 1), with zeros or, for
    ``time_padding_mode="replicate"``, copies of the border frames (see ``converter.inflate.layers``
    for which init is then exact on a still clip). ``fc`` becomes a 1x1x1 Conv3d applied at every
    remaining time step; ``forward`` averages those logits over time.
    """

    def __init__(
        self,
        depth: int = 50,
        num_classes: int = 1000,
        time_kernel: int = 3,
        time_stride: int = 1,
        block_time_kernel: int = 1,
        time_padding_mode: str = "zeros",
    ) -> None:
        with torch.device("meta"):  # the 2D skeleton only lends its structure: allocate nothing
            super().__init__(depth, num_classes)
        stem = Time(time_kernel, time_stride, padding_mode=time_padding_mode)
        block = Time(block_time_kernel, padding_mode=time_padding_mode)
        keep = Time(padding_mode=time_padding_mode)

        def plan(name: str, layer: nn.Module) -> Time:
            return stem if name == "conv1" else block if name.endswith(".conv2") else keep

        inflate_(self, plan)

    def time_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> (B, num_classes, T') logits at each remaining time step."""
        return self.fc(self.avgpool(self.features(x))).flatten(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.time_logits(x).mean(2)

    def replace_logits(self, num_classes: int) -> None:
        """A fresh classifier for fine-tuning on ``num_classes`` classes."""
        self.fc = nn.Conv3d(self.fc.in_channels, num_classes, 1)

    def load_2d(self, state2d: Mapping[str, Any], init: str = "center", source: str | None = None) -> None:
        """Fill this network from a torchvision ResNet state_dict (strict; see ``transfer_weights``)."""
        transfer_weights(state2d, self, init, source)
