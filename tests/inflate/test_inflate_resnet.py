"""ResNet-50/101/152: torchvision's names and sizes in 2D, the same names in 3D, time options."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from converter.inflate.resnet import ResNet, ResNet3d

# Parameter counts torchvision documents for these models (ResNet*_Weights.IMAGENET1K_V1.meta["num_params"],
# https://pytorch.org/vision/stable/models.html): an independent check of every layer's shape.
TORCHVISION_PARAMS = {50: 25_557_032, 101: 44_549_160, 152: 60_192_808}
TWO_D = (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Linear)


def shapes(model: nn.Module) -> dict[str, tuple]:
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


@pytest.mark.parametrize("depth", sorted(TORCHVISION_PARAMS))
def test_2d_network_has_torchvision_size(depth: int) -> None:
    with torch.device("meta"):
        model = ResNet(depth)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS[depth]
    assert "layer1.0.downsample.0.weight" in shapes(model) and "layer1.1.downsample.0.weight" not in shapes(model)


@pytest.mark.parametrize("depth", sorted(TORCHVISION_PARAMS))
def test_2d_network_matches_torchvision_names_and_shapes(depth: int) -> None:
    models = pytest.importorskip("torchvision.models")
    with torch.device("meta"):
        assert shapes(ResNet(depth)) == shapes(getattr(models, f"resnet{depth}")())


@pytest.mark.parametrize("depth", sorted(TORCHVISION_PARAMS))
def test_3d_network_keeps_the_names_and_inflates_every_layer(depth: int) -> None:
    with torch.device("meta"):
        flat = shapes(ResNet(depth, num_classes=10))
    model3d = ResNet3d(depth, num_classes=10, time_kernel=5, block_time_kernel=3)
    inflated = shapes(model3d)
    assert list(inflated) == list(flat)
    assert [n for n, m in model3d.named_modules() if isinstance(m, TWO_D)] == []
    assert not any(t.is_meta for t in model3d.state_dict().values())
    assert inflated["conv1.weight"] == (64, 3, 5, 7, 7)
    assert inflated["layer3.4.conv2.weight"] == (256, 256, 3, 3, 3)
    assert inflated["layer3.4.conv1.weight"] == (256, 1024, 1, 1, 1)
    assert inflated["fc.weight"] == (10, 2048, 1, 1, 1)


def test_time_stride_halves_time_and_replace_logits_changes_the_head() -> None:
    model = ResNet3d(50, num_classes=7, time_stride=2).eval()
    clip = torch.randn(2, 3, 5, 32, 32)
    with torch.no_grad():
        assert model.time_logits(clip).shape == (2, 7, 3)
        model.replace_logits(4)
        assert model(clip).shape == (2, 4)


def test_unknown_depth_is_refused() -> None:
    with pytest.raises(ValueError, match="depth 34"):
        ResNet3d(34)
