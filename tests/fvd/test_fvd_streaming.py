"""``converter.fvd.FVD`` (update/compute/reset) equals the one-shot ``compute`` on the same clips, in one
process (two ranks: ``test_fvd_distributed``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from converter.errors import ConversionError
from converter.fvd import FVD, compute
from tests.fvd.tiny import FrameMeans


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(5)
    real = rng.integers(0, 256, (30, 12, 16, 16, 3), dtype=np.uint8)
    fake = (rng.integers(0, 200, (25, 12, 20, 24, 3)) + 40).astype(np.uint8)
    return real, fake


@pytest.mark.parametrize("protocol", ["tf", "stylegan-v"])
def test_streaming_equals_one_shot(sets, protocol):
    real, fake = sets
    model = FrameMeans(12)
    metric = FVD(model, protocol=protocol, batch_size=4)
    for start in range(0, 30, 7):
        metric.update(torch.from_numpy(real[start : start + 7]), real=True)
    metric.update(fake[:10], real=False)
    metric.update(fake[10:].astype(np.float32), real=False)
    want = compute(real, fake, model=model, protocol=protocol, frames=12).fvd
    assert want > 0 and metric.compute() == pytest.approx(want, rel=1e-12)


def test_reset_keeps_real_features_if_asked(sets):
    real, fake = sets
    model = FrameMeans(12)
    metric = FVD(model, reset_real_features=False)
    metric.update(real, real=True)
    metric.update(real[:5], real=False)
    metric.reset()
    metric.update(fake, real=False)
    assert metric.compute() == pytest.approx(compute(real, fake, model=model).fvd, rel=1e-12)
    fresh = FVD(model)
    fresh.update(real, real=True)
    fresh.reset()
    with pytest.raises(ConversionError, match="FVD needs at least 2 real videos, got 0"):
        fresh.compute()
    with pytest.raises(ConversionError, match=r"real videos\[0\]: float values .* lie in \[0, 1\]"):
        fresh.update(real[:2] / 255.0, real=True)
    with pytest.raises(ConversionError, match="clips of 8 frames; I3D's logits need at least 9"):
        fresh.update(real[:, :8], real=True)
