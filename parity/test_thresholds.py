"""The gate's rules on hand-made comparisons: what passes, what the floor allows, what always fails."""

from __future__ import annotations

import numpy as np

from parity import thresholds
from parity.compare import Comparison, Diff


def diff(rel: float = 1e-6, alone_rel: float = 1e-7, floor_rel: float = 1e-6, alone_abs: float = 1e-7) -> Diff:
    return Diff((1, 2), rel * 10, rel, 1.0, alone_abs, alone_rel, 0.5, floor_rel * 10, floor_rel, 10.0)


def comparison(**diffs: Diff) -> Comparison:
    return Comparison((1, 9, 224, 224, 3), diffs, None, None, None)


def test_small_differences_pass() -> None:
    assert thresholds.violations("rgb", comparison(Mixed_5c=diff(), MaxPool3d_5a_2x2=diff(alone_abs=0.0))) == []


def test_end_to_end_beyond_threshold_fails_unless_tf_itself_moves_as_much() -> None:
    assert thresholds.violations("rgb", comparison(Mixed_5c=diff(rel=3e-5, floor_rel=1e-6)))
    assert thresholds.violations("flow", comparison(Mixed_5c=diff(rel=3e-5, floor_rel=2e-5))) == []
    beyond = thresholds.FLOOR_FACTOR * 2e-5 * 1.01
    assert thresholds.violations("flow", comparison(Mixed_5c=diff(rel=beyond, floor_rel=2e-5)))


def test_floor_never_excuses_a_layer_or_a_pool() -> None:
    found = thresholds.violations("x", comparison(Mixed_5c=diff(alone_rel=2e-5, floor_rel=1e-4)))
    assert [line for line in found if "layer alone" in line]
    found = thresholds.violations("x", comparison(MaxPool3d_2a_3x3=diff(alone_abs=1e-9)))
    assert found == ["x MaxPool3d_2a_3x3: max-pool not bit-exact (max|Δ| 1.00e-09)"]


def test_too_noisy_weights_fail() -> None:
    found = thresholds.violations("x", comparison(Mixed_5c=diff(rel=1e-4, floor_rel=3e-4)))
    assert any("cannot test parity" in line for line in found)


def test_logits_bound() -> None:
    logits = Diff((1, 400), 6e-5, 1e-6, 1.0, 1e-6, 1e-7, 0.9, 1e-5, 1e-6, 40.0)
    assert thresholds.violations("rgb", comparison(Logits=logits)) == ["rgb Logits: logits max|Δ| 6.00e-05 > 5.00e-05"]
    assert thresholds.logits_violations("joint", 6e-5, 4e-5) == []
    assert thresholds.logits_violations("joint", 6e-5, 1e-5)
    assert thresholds.logits_bound(0.0) == thresholds.LOGITS_ABS == 5e-5
    assert np.isclose(thresholds.endpoint_bound(2e-5), thresholds.FLOOR_FACTOR * 2e-5)
    assert thresholds.endpoint_bound(1e-7) == thresholds.ENDPOINT_REL
