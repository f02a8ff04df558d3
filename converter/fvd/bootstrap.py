"""Percentile bootstrap intervals for metrics of two feature sets (Efron & Tibshirani 1993, ch. 13).

Each of B rounds resamples the real and the generated videos with replacement (each side its own size),
recomputes every metric on the resampled features, and the interval is the (1−level)/2 and (1+level)/2
percentiles of the B values (numpy's linear interpolation). Seeded: the same seed gives the same
intervals. An interval describes the spread over the videos evaluated; it is not corrected for the
metrics' bias (FVD's grows as N shrinks), so read it beside the full-set value.
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
    rounds: int,
    seed: int = 0,
    level: float = LEVEL,
) -> dict[str, tuple[float, float]]:
    """{name: (low, high)} for every value ``metrics(real, fake)`` returns, over ``rounds`` resamplings of
    the rows of ``real`` (m, d) and ``fake`` (n, d)."""
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
    return {name: _pair(np.percentile(found, tails)) for name, found in values.items()}


def _pair(values: np.ndarray) -> tuple[float, float]:
    return float(values[0]), float(values[1])
