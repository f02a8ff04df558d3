"""Input ranges checked both ways: [0, 1] floats refused under 0..255, ``value_range="0-1"`` scales them.

The issue's case: three uint8 videos ``a`` vs three ``b`` (10 × 32 × 32); ``fvd(a / 255, b)`` used to give
8725.1 where ``fvd(a, b)`` is 686.6. The tiny stand-in detector keeps these tests instant; the check runs
before any model sees the frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from converter.errors import ConversionError
from converter.fvd import compute, fvd
from converter.fvd.ranges import to_0_255
from tests.fvd.tiny import FrameMeans


@pytest.fixture(scope="module")
def ab():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (3, 10, 32, 32, 3), dtype=np.uint8)
    b = rng.integers(30, 200, (3, 10, 32, 32, 3), dtype=np.uint8)
    return a, b


def test_zero_one_floats_are_refused_naming_the_video(ab):
    a, b = ab
    model = FrameMeans(10)
    b_seen = f"{b[0].min() / 255:g}..{b[0].max() / 255:g}"
    for real, fake, seen in ((a / 255, b, "0..1"), (a / 255, b / 255, "0..1"), (a, b / 255.0, b_seen)):
        with pytest.raises(ConversionError) as caught:
            fvd(real, fake, model=model)
        message = str(caught.value)
        assert message.startswith(f"array[0]: float values {seen} lie in [0, 1]") and "\n" not in message
        assert "--value-range 0-1" in message


def test_value_range_0_1_equals_the_0_255_input(ab):
    a, b = ab
    model = FrameMeans(10)
    want = fvd(a, b, model=model)
    got = fvd(a / 255, b.astype(np.float32) / 255, model=model, value_range="0-1")
    assert want > 0 and got == pytest.approx(want, rel=1e-5)
    assert fvd(a, b / 255, model=model, value_range="0-1") == pytest.approx(want, rel=1e-5)  # uint8 beside floats
    assert fvd(a.astype(np.float64), b.astype(np.float32), model=model) == pytest.approx(want, rel=1e-6)


def test_wrong_range_either_way_is_refused(ab):
    a, _ = ab
    x = torch.from_numpy(a)
    assert torch.equal(to_0_255(x, "0-1", "name", [0, 1, 2]), x)  # uint8 is 0..255 whatever floats are
    with pytest.raises(ConversionError, match=r"^name\[7\]: values 0\.\.255 outside 0\.\.1"):
        to_0_255(x[:1].double(), "0-1", "name", [7])
    with pytest.raises(ConversionError, match=r"^name\[4\]: values -1\.\.1 outside 0\.\.255"):
        to_0_255(torch.full((1, 9, 2, 2, 3), -1.0).index_fill_(1, torch.tensor([0]), 1.0), "0-255", "name", [4])
    black = torch.zeros(1, 9, 2, 2, 3)  # all 0 reads the same in both ranges: accepted
    assert torch.equal(to_0_255(black, "0-255", "n", [0]), black)
    with pytest.raises(ConversionError, match="value range must be one of 0-255, 0-1"):
        compute(a, a, model=FrameMeans(10), value_range="0..1")
