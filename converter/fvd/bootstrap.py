"""Bootstrap intervals for metrics of two feature sets (Efron & Tibshirani 1993, "An Introduction to the
Bootstrap": percentiles, ch. 13; the bootstrap estimate of bias, §10.2).

Each of B rounds resamples the real and the generated videos with replacement (each side its own size)
and recomputes every metric on the resampled features. A resample repeats videos, which biases these
metrics (FVD grows, nearest-neighbour radii shrink), so the plain percentile interval can miss the
full-set value altogether (FVD 3.03 on 300 + 250 random 16-d vectors: percentiles 3.15..4.34). The
interval is therefore the (1−level)/2 and (1+level)/2 percentiles of the B values shifted by the
bootstrap bias estimate, mean(values) − full-set value. Seeded: the same seed gives the same intervals.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from converter.errors import ConversionError

LEVEL = 0.95


def percentile_intervals(
    real: np.ndarray,
    fake: np.ndarray,
    metrics: Callable[[np.ndarray, np.ndarray], dict[str, float]],
    full: dict[str, float],
    rounds: int,
    seed: int = 0,
    level: float = LEVEL,
) -> dict[str, tuple[float, float]]:
    """{name: (low, high)} for every value ``metrics(real, fake)`` returns, over ``rounds`` resamplings of
    the rows of ``real`` (m, d) and ``fake`` (n, d), bias-corrected against ``full`` (the full-set values)."""
    if rounds < 2:
        raise ConversionError(None, f"--bootstrap needs at least 2 rounds, got {rounds}")
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {}
    for _ in range(rounds):
        r = real[rng.integers(0, real.shape[0], real.shape[0])]
        f = fake[rng.integers(0, fake.shape[0], fake.shape[0])]
        for name, value in metrics(r, f).items():
            values.setdefault(name, []).append(value)
    tails = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    intervals = {}
    for name, found in values.items():
        shifted = np.asarray(found) - (np.mean(found) - full[name])
        low, high = np.percentile(shifted, tails)
        intervals[name] = (float(low), float(high))
    return intervals
