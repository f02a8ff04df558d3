"""Other clip sizes, so TF's size-dependent 'SAME' padding is exercised beyond 79×224²."""

from __future__ import annotations

import numpy as np
import pytest

from parity import thresholds
from parity.suite import SHAPES, cut


@pytest.mark.parametrize(("stream", "shape"), SHAPES, ids=[f"{s}-{'x'.join(map(str, b))}" for s, b in SHAPES])
def test_other_shapes_within_thresholds(suite, stream, shape) -> None:
    comparison = suite.shape(stream, shape)
    assert comparison.clip_shape[:4] == shape
    assert thresholds.violations(f"{stream} {shape}", comparison) == []


def test_cut_spreads_frame_windows_and_centres_crops() -> None:
    clip = np.arange(1 * 10 * 6 * 8 * 1, dtype=np.float32).reshape(1, 10, 6, 8, 1)
    out = cut(clip, (3, 4, 2, 4))
    assert out.shape == (3, 4, 2, 4, 1)
    assert [int(out[b, 0, 0, 0, 0]) for b in range(3)] == [int(clip[0, t, 2, 2, 0]) for t in (0, 3, 6)]
    with pytest.raises(ValueError, match="cannot cut"):
        cut(clip, (1, 11, 6, 8))
