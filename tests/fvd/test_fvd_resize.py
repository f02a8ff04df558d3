"""The legacy bilinear resize against TF1's ``tf.compat.v1.image.resize_bilinear`` (the FVD recipe's)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from converter.fvd.resize import legacy_resize_bilinear

SIZES = [(64, 64), (72, 96), (240, 320), (375, 1242), (7, 5), (224, 224)]
TARGETS = [(224, 224), (37, 53)]


def _tf_resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    tf = pytest.importorskip("tensorflow")
    return tf.compat.v1.image.resize_bilinear(frames, [height, width]).numpy()  # the recipe: TF1 defaults


def _frames(size: tuple[int, int], dtype: str, n: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 256, (n, *size, 3)) if dtype == "uint8" else rng.uniform(0, 255, (n, *size, 3))
    return values.astype(dtype)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
@pytest.mark.parametrize("target", TARGETS, ids=lambda s: f"to{s[0]}x{s[1]}")
def test_equals_tf1_resize_bilinear(size, dtype, target):
    """Up- and downsampling, odd sizes, uint8 and float frames: ≤ 1e-4 on the 0..255 scale."""
    frames = _frames(size, dtype)
    expected = _tf_resize(frames, *target)
    got = legacy_resize_bilinear(torch.from_numpy(frames), *target)
    assert got.dtype == torch.float32 and tuple(got.shape) == expected.shape
    assert np.abs(got.numpy() - expected).max() <= 1e-4


def test_batched_leading_dimensions_and_not_interpolate():
    """(N, T, H, W, C) resizes frame by frame; the result is not torch's half-pixel bilinear."""
    videos = _frames((72, 96), "uint8", n=6).reshape(2, 3, 72, 96, 3)
    got = legacy_resize_bilinear(torch.from_numpy(videos), 224, 224)
    expected = _tf_resize(videos.reshape(6, 72, 96, 3), 224, 224).reshape(2, 3, 224, 224, 3)
    assert np.abs(got.numpy() - expected).max() <= 1e-4
    torch_default = torch.nn.functional.interpolate(
        torch.from_numpy(videos.reshape(6, 72, 96, 3)).permute(0, 3, 1, 2).float(), size=(224, 224), mode="bilinear"
    )
    assert np.abs(torch_default.permute(0, 2, 3, 1).numpy() - expected.reshape(6, 224, 224, 3)).max() > 1


def test_many_frames_bit_identical_across_chunks():
    """Frames are resized a few at a time (14 frames of 224² span 3 chunks): still bit-identical to TF."""
    videos = _frames((64, 80), "uint8", n=14, seed=3).reshape(2, 7, 64, 80, 3)
    got = legacy_resize_bilinear(torch.from_numpy(videos), 224, 224)
    expected = _tf_resize(videos.reshape(14, 64, 80, 3), 224, 224).reshape(2, 7, 224, 224, 3)
    assert np.array_equal(got.numpy(), expected)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_torchscript_gives_the_same():
    """The function scripts (the FVD detector export builds on it) and computes the same values."""
    scripted = torch.jit.script(legacy_resize_bilinear)  # deprecated, still what TorchScript export uses
    frames = torch.from_numpy(_frames((64, 64), "uint8"))
    assert torch.equal(scripted(frames, 224, 224), legacy_resize_bilinear(frames, 224, 224))


@pytest.mark.parametrize(
    "shape, size, message",
    [((64, 3), (224, 224), "expected"), ((2, 64, 64, 3), (0, 224), "at least 1x1"), ((2, 0, 64, 3), (2, 2), "input")],
)
def test_bad_shapes_are_refused(shape, size, message):
    with pytest.raises(ValueError, match=message):
        legacy_resize_bilinear(torch.zeros(shape), *size)
