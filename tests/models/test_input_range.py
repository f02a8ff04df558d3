"""The model's entrance: uint8 clips mapped by the recipe, floats outside [-1, 1] refused with the range."""

from __future__ import annotations

import warnings

import pytest
import torch

from converter.models.i3d import InceptionI3d
from converter.models.input_range import model_input


@pytest.fixture(scope="module")
def model() -> InceptionI3d:
    torch.manual_seed(0)
    return InceptionI3d(num_classes=5).eval()


def test_uint8_equals_its_unit_range_float(model: InceptionI3d) -> None:
    pixels = torch.randint(0, 256, (1, 3, 9, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    pixels[0, 0, 0, 0, :2] = torch.tensor([0, 255], dtype=torch.uint8)  # both ends of the range
    unit = pixels.float() / 127.5 - 1
    assert unit.min() == -1 and unit.max() == 1
    with torch.no_grad():
        got = model.endpoints(pixels, ["Mixed_3c"])["Mixed_3c"]
        want = model.endpoints(unit, ["Mixed_3c"])["Mixed_3c"]
    assert torch.equal(got, want)


def test_0_255_floats_are_refused_with_the_range(model: InceptionI3d) -> None:
    clip = torch.full((1, 3, 9, 224, 224), 255.0)
    clip[0, 0, 0, 0, 0] = 3.0
    with pytest.raises(ValueError, match=r"span \[3, 255\], expected \[-1, 1\].*0\.\.255 pixels"):
        model(clip)


def test_slightly_negative_values_name_both_ends(model: InceptionI3d) -> None:
    clip = torch.zeros(1, 3, 9, 32, 32)
    clip[0, 1, 4, 5, 6] = -1.5
    with pytest.raises(ValueError, match=r"span \[-1\.5, 0\]") as caught:
        model.endpoints(clip, ["Conv3d_1a_7x7"])
    assert "0..255" not in str(caught.value)  # no pixel hint for what is not pixels


def test_tolerance_and_opt_out(model: InceptionI3d) -> None:
    near = torch.full((1, 3, 2, 16, 16), 1.0005)
    model.endpoints(near, ["Conv3d_1a_7x7"])  # within the tolerance
    far = torch.full((1, 3, 2, 16, 16), 7.0)
    unchecked = InceptionI3d(num_classes=5).eval()
    unchecked.check_input_range = False
    out = unchecked.endpoints(far, ["Conv3d_1a_7x7"])["Conv3d_1a_7x7"]
    assert out.shape == (1, 64, 1, 8, 8)
    with pytest.raises(ValueError):
        model.endpoints(far, ["Conv3d_1a_7x7"])  # the class default still checks


def test_wrong_layout_keeps_its_error(model: InceptionI3d) -> None:
    with pytest.raises(ValueError, match=r"expected input \(B, 3, T, H, W\), got \(1, 9, 32, 32, 3\)"):
        model(torch.zeros(1, 9, 32, 32, 3, dtype=torch.uint8))


def test_uint8_follows_the_model_dtype() -> None:
    pixels = torch.tensor([0, 255], dtype=torch.uint8)
    out = model_input(pixels, torch.float64)
    assert out.dtype == torch.float64 and out.tolist() == [-1.0, 1.0]


def test_tracing_skips_the_check(model: InceptionI3d) -> None:
    """A traced graph holds no data-dependent branch: the check is not recorded and inputs pass."""
    clip = torch.rand(1, 3, 2, 16, 16) * 2 - 1

    class Stem(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.i3d = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.i3d.endpoints(x, ["Conv3d_1a_7x7"])["Conv3d_1a_7x7"]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarning, and torch.jit.trace's deprecation
        traced = torch.jit.trace(Stem(), clip, check_trace=False)
    assert "aminmax" not in str(traced.graph)
    assert torch.allclose(traced(clip), Stem()(clip))


def test_torch_export_skips_the_check(model: InceptionI3d) -> None:
    """torch.export (issue 15's path) records no aminmax and no data-dependent branch."""

    class Stem(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.i3d = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.i3d.endpoints(x, ["Conv3d_1a_7x7"])["Conv3d_1a_7x7"]

    clip = torch.rand(1, 3, 2, 16, 16) * 2 - 1
    exported = torch.export.export(Stem(), (clip,))
    assert "aminmax" not in str(exported.graph)
    assert torch.allclose(exported.module()(clip), Stem()(clip))


def test_other_dtypes_are_refused_naming_the_dtype() -> None:
    """An int64 clip is neither pixels (uint8) nor the recipe's floats: one clear line, not torch's."""
    model = InceptionI3d(num_classes=5)
    with pytest.raises(ValueError, match=r"input dtype torch\.int64: pass uint8 pixels \(0\.\.255\) or floats"):
        model.endpoints(torch.zeros(1, 3, 9, 32, 32, dtype=torch.int64), ["Conv3d_1a_7x7"])


def test_the_readmes_recipe_without_float_runs(model: InceptionI3d) -> None:
    """``frames / 127.5 - 1`` is float64 in numpy: model(x) casts it rather than failing inside a convolution."""
    clip = torch.rand(1, 3, 9, 224, 224, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model(clip), model(clip.float()))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_any_float_width_is_cast_to_the_model_dtype(model: InceptionI3d, dtype: torch.dtype) -> None:
    """Half and bfloat16 clips come from other pipelines: all run as the model's float32."""
    clip = torch.rand(1, 3, 9, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    narrowed = clip.to(dtype)
    with torch.no_grad():
        got = model.endpoints(narrowed, ["Mixed_3c"])["Mixed_3c"]
        want = model.endpoints(narrowed.float(), ["Mixed_3c"])["Mixed_3c"]
    assert got.dtype == torch.float32
    assert torch.equal(got, want)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_out_of_range_floats_of_any_width_name_the_range(model: InceptionI3d, dtype: torch.dtype) -> None:
    clip = torch.full((1, 3, 9, 32, 32), 200.0, dtype=dtype)
    with pytest.raises(ValueError, match=r"span \[200, 200\], expected \[-1, 1\]"):
        model.endpoints(clip, ["Mixed_3c"])


@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.int32, torch.uint16, torch.bool])
def test_integer_types_other_than_uint8_keep_their_refusal(model: InceptionI3d, dtype: torch.dtype) -> None:
    with pytest.raises(ValueError, match=rf"input dtype {dtype}: pass uint8 pixels"):
        model.endpoints(torch.zeros(1, 3, 9, 32, 32, dtype=dtype), ["Mixed_3c"])


def test_a_bfloat16_model_takes_float32_and_float64_clips() -> None:
    torch.manual_seed(0)
    model = InceptionI3d(num_classes=5).eval().to(torch.bfloat16)
    clip = torch.rand(1, 3, 9, 32, 32, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        got = model.endpoints(clip, ["Mixed_3c"])["Mixed_3c"]
        assert got.dtype == torch.bfloat16
        assert torch.equal(got, model.endpoints(clip.to(torch.bfloat16), ["Mixed_3c"])["Mixed_3c"])
