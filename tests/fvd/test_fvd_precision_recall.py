"""Precision and recall (Kynkäänniemi et al. 2019) against a brute-force reading of the paper's definition:
f(φ, Φ) = 1 if ‖φ − φ'‖ ≤ ‖φ' − NN_k(φ', Φ)‖ for some φ' ∈ Φ; precision = mean over generated φ of
f(φ, Φ_real), recall = mean over real φ of f(φ, Φ_fake); k = 3."""

from __future__ import annotations

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.fvd.precision_recall import precision_recall


def _brute(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    def inside(phi, manifold):
        for j, centre in enumerate(manifold):
            others = sorted(float(np.linalg.norm(centre - o)) for i, o in enumerate(manifold) if i != j)
            if np.linalg.norm(phi - centre) <= others[k - 1]:
                return True
        return False

    precision = np.mean([inside(p, real) for p in fake])
    recall = np.mean([inside(p, fake) for p in real])
    return float(precision), float(recall)


@pytest.mark.parametrize("seed", [0, 1])
def test_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    real = rng.normal(0, 1, (60, 8))
    fake = rng.normal(0.8, 0.7, (45, 8))
    ours, theirs = precision_recall(real, fake), _brute(real, fake)
    print(f"\nprecision, recall: ours {ours}, brute force {theirs}")
    assert ours == pytest.approx(theirs, abs=1e-12)
    assert 0 < ours[0] < 1 and 0 < ours[1] < 1


def test_same_set_is_complete_and_small_sets_refused():
    x = np.random.default_rng(2).normal(size=(20, 5))
    assert precision_recall(x, x) == (1.0, 1.0)
    with pytest.raises(ConversionError, match="more than 3 fake videos"):
        precision_recall(x, x[:3])
