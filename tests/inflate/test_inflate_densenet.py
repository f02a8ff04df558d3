"""DenseNet-121/161/169/201: torchvision's names and sizes, legacy checkpoint names, 3D names."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from converter.errors import ConversionError
from converter.inflate.densenet import DenseNet, DenseNet3d, torchvision_names

# Parameter counts torchvision documents (DenseNet*_Weights.IMAGENET1K_V1.meta["num_params"],
# https://pytorch.org/vision/stable/models.html): an independent check of every layer's shape.
TORCHVISION_PARAMS = {121: 7_978_856, 161: 28_681_000, 169: 14_149_480, 201: 20_013_928}
TWO_D = (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Linear)


def shapes(model: nn.Module) -> dict[str, tuple]:
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def legacy(state: dict) -> dict:
    """Keys as in torchvision's published densenet checkpoints: ``norm.1`` for ``norm1`` and so on."""
    renamed = {}
    for key, value in state.items():
        head, _, leaf = key.rpartition(".")
        parent, _, module = head.rpartition(".")
        if "denselayer" in parent and module[-1] in "12" and leaf != "num_batches_tracked":
            key = f"{parent}.{module[:-1]}.{module[-1]}.{leaf}"
        renamed[key] = value
    return renamed


@pytest.mark.parametrize("variant", sorted(TORCHVISION_PARAMS))
def test_2d_network_has_torchvision_size(variant: int) -> None:
    with torch.device("meta"):
        model = DenseNet(variant)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS[variant]


@pytest.mark.parametrize("variant", sorted(TORCHVISION_PARAMS))
def test_2d_network_matches_torchvision_names_and_shapes(variant: int) -> None:
    models = pytest.importorskip("torchvision.models")
    with torch.device("meta"):
        assert shapes(DenseNet(variant)) == shapes(getattr(models, f"densenet{variant}")())


@pytest.mark.parametrize("variant", sorted(TORCHVISION_PARAMS))
def test_3d_network_keeps_the_names_and_inflates_every_layer(variant: int) -> None:
    with torch.device("meta"):
        flat = shapes(DenseNet(variant, num_classes=10))
    model3d = DenseNet3d(variant, num_classes=10, block_time_kernel=3)
    inflated = shapes(model3d)
    assert list(inflated) == list(flat)
    assert [n for n, m in model3d.named_modules() if isinstance(m, TWO_D)] == []
    assert inflated["features.conv0.weight"][2:] == (3, 7, 7)
    assert inflated["features.denseblock2.denselayer3.conv2.weight"][2:] == (3, 3, 3)
    assert inflated["features.transition2.conv.weight"][2:] == (1, 1, 1)
    assert inflated["classifier.weight"] == (10, flat["classifier.weight"][1], 1, 1, 1)


def test_legacy_names_load_like_current_ones(nontrivial) -> None:
    state = nontrivial(DenseNet(121, num_classes=3)).state_dict()
    old = legacy(state)
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    assert "features.denseblock1.denselayer1.norm1.weight" not in old
    assert torchvision_names(old) == dict(state)
    model3d = DenseNet3d(121, num_classes=3)
    model3d.load_2d(old, "mean")
    assert torch.equal(
        model3d.features.denseblock4.denselayer16.norm2.running_var,
        state["features.denseblock4.denselayer16.norm2.running_var"],
    )


def test_a_key_under_both_names_is_refused() -> None:
    state = DenseNet(121).state_dict()
    state["features.denseblock1.denselayer2.conv.1.weight"] = state["features.denseblock1.denselayer2.conv1.weight"]
    with pytest.raises(ConversionError, match=r"^x\.pth: 'features\.denseblock1\.denselayer2\.conv1\.weight'"):
        DenseNet3d(121).load_2d(state, source="x.pth")


def test_resnet_weights_do_not_fit_a_densenet() -> None:
    from converter.inflate.resnet import ResNet

    with torch.device("meta"):
        state = ResNet(50).state_dict()
    with pytest.raises(ConversionError, match=r"missing in the 2D weights for DenseNet3d: .*unexpected"):
        DenseNet3d(121).load_2d(state)


def test_time_stride_halves_time_and_replace_logits_changes_the_head() -> None:
    model = DenseNet3d(121, num_classes=7, time_stride=2).eval()
    clip = torch.randn(2, 3, 5, 32, 32)
    with torch.no_grad():
        assert model.time_logits(clip).shape == (2, 7, 3)
        model.replace_logits(4)
        assert model(clip).shape == (2, 4)


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="variant 264"):
        DenseNet3d(264)
