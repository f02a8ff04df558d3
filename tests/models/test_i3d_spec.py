"""The torch-free I3D description: names, shapes and sizes the converter checks targets against."""

from __future__ import annotations

import subprocess
import sys

import pytest

from converter.errors import ConversionError
from converter.models import i3d_spec

# Inception-v1 block widths (Szegedy et al. 2014, table 1), i.e. what each Mixed block outputs.
MIXED_WIDTHS = {
    "Mixed_3b": 256,
    "Mixed_3c": 480,
    "Mixed_4b": 512,
    "Mixed_4c": 512,
    "Mixed_4d": 512,
    "Mixed_4e": 528,
    "Mixed_4f": 832,
    "Mixed_5b": 832,
    "Mixed_5c": 1024,
}


def test_spec_does_not_import_torch() -> None:
    code = "import sys, converter.models.i3d_spec; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_endpoints_are_the_layers_in_order() -> None:
    assert len(i3d_spec.ENDPOINTS) == len(set(i3d_spec.ENDPOINTS)) == 17
    assert i3d_spec.ENDPOINTS[0] == "Conv3d_1a_7x7" and i3d_spec.ENDPOINTS[-1] == "Logits"
    assert [name for name in i3d_spec.ENDPOINTS if name.startswith("Mixed")] == list(MIXED_WIDTHS)


def test_parameter_count_matches_the_official_variables() -> None:
    """57 units x (w, beta, moving mean, moving variance) + logits w, b = the 230 checkpoint variables."""
    shapes = i3d_spec.parameter_shapes()
    units = {key.rsplit(".", 2)[0] for key in shapes if key.endswith(".bn.bias")}
    assert len(units) == 3 + 6 * len(MIXED_WIDTHS)
    assert len(shapes) == 4 * len(units) + 2


def test_conv_kernels_match_their_names() -> None:
    for key, shape in i3d_spec.parameter_shapes().items():
        if key.endswith("conv.weight"):
            size = int(key.split(".")[-3].rsplit("x", 1)[1])
            assert shape[2:] == (size, size, size), key


def test_every_block_sees_the_previous_blocks_width() -> None:
    shapes = i3d_spec.parameter_shapes()
    names = list(i3d_spec.ENDPOINTS)
    for block, width in MIXED_WIDTHS.items():
        following = names[names.index(block) + 1 :]
        consumer = next(name for name in following if name.startswith("Mixed") or name == "Logits")
        key = f"{consumer}.Branch_0.Conv3d_0a_1x1.conv.weight"
        if consumer == "Logits":
            key = i3d_spec.LOGITS_WEIGHT
        assert shapes[key][1] == width, (block, consumer)
    for block, width in MIXED_WIDTHS.items():
        outputs = [
            shapes[f"{block}.Branch_{i}.{unit}.bn.bias"][0]
            for i, unit in enumerate(("Conv3d_0a_1x1", "Conv3d_0b_3x3", "Conv3d_0b_3x3", "Conv3d_0b_1x1"))
        ]
        assert sum(outputs) == width, block


def test_typo_is_fixed_in_our_names() -> None:
    shapes = i3d_spec.parameter_shapes()
    assert "Mixed_5b.Branch_2.Conv3d_0b_3x3.conv.weight" in shapes
    assert not any("Conv3d_0a_3x3" in key for key in shapes)


@pytest.mark.parametrize(("num_classes", "in_channels"), [(400, 3), (600, 3), (400, 2), (7, 1)])
def test_config_round_trips_through_the_shapes(num_classes, in_channels) -> None:
    shapes = i3d_spec.parameter_shapes(num_classes, in_channels)
    assert shapes[i3d_spec.LOGITS_WEIGHT] == (num_classes, 1024, 1, 1, 1)
    assert shapes[i3d_spec.LOGITS_BIAS] == (num_classes,)
    assert shapes[i3d_spec.STEM_WEIGHT] == (64, in_channels, 7, 7, 7)
    assert i3d_spec.infer_config(shapes) == {"num_classes": num_classes, "in_channels": in_channels}


def test_infer_config_names_what_is_wrong() -> None:
    shapes = i3d_spec.parameter_shapes()
    with pytest.raises(ConversionError, match=r"Logits\.Conv3d_0c_1x1\.conv\.bias: missing"):
        i3d_spec.infer_config({k: v for k, v in shapes.items() if k != i3d_spec.LOGITS_BIAS})
    with pytest.raises(ConversionError, match=r"Conv3d_1a_7x7\.conv\.weight: expected 5 dimensions"):
        i3d_spec.infer_config({**shapes, i3d_spec.STEM_WEIGHT: (64, 3, 7, 7)})


def test_endpoint_sizes_for_79_frames_at_224() -> None:
    """79 x 224 x 224 is DeepMind's sample clip: 2x down in time at the stem and at two pools."""
    expected = {
        "Conv3d_1a_7x7": (40, 112, 112),
        "MaxPool3d_2a_3x3": (40, 56, 56),
        "Conv3d_2c_3x3": (40, 56, 56),
        "MaxPool3d_3a_3x3": (40, 28, 28),
        "Mixed_3c": (40, 28, 28),
        "MaxPool3d_4a_3x3": (20, 14, 14),
        "Mixed_4f": (20, 14, 14),
        "MaxPool3d_5a_2x2": (10, 7, 7),
        "Mixed_5c": (10, 7, 7),
    }
    for name, size in expected.items():
        assert i3d_spec.endpoint_size(name, (79, 224, 224)) == size, name
    with pytest.raises(ValueError, match="valid: Conv3d_1a_7x7"):
        i3d_spec.endpoint_size("Logits", (79, 224, 224))


def test_logits_input_sizes() -> None:
    """ceil(T / 8) >= 2 frames and ceil(H / 32) == 7 pixels at Mixed_5c."""
    assert i3d_spec.logits_input_sizes() == (9, range(193, 225), range(193, 225))


def test_bn_scale_adds_one_gamma_per_batchnorm_and_is_read_back() -> None:
    """The optional BatchNorm scale: 57 more parameters, present in the config only when there."""
    torch = pytest.importorskip("torch")
    from converter.models.i3d import InceptionI3d

    plain, scaled = i3d_spec.parameter_shapes(), i3d_spec.parameter_shapes(bn_scale=True)
    gammas = {k: v for k, v in scaled.items() if k.endswith(".bn.weight")}
    assert len(gammas) == 57 and set(scaled) - set(plain) == set(gammas)
    assert "bn_scale" not in i3d_spec.infer_config(plain) and i3d_spec.infer_config(scaled)["bn_scale"] is True
    for model, shapes in ((InceptionI3d(), plain), (InceptionI3d(bn_scale=True), scaled)):
        assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == shapes
    assert all(
        torch.equal(v, torch.ones_like(v)) for k, v in InceptionI3d(bn_scale=True).state_dict().items() if k in gammas
    )
