"""Every metric the ``fvd`` command reports, from one pair of feature sets (or statistics, for FVD).

``fvd`` (``distance``: Unterthiner et al. 2018 / StyleGAN-V), ``kvd`` (``kvd``: Bińkowski et al. 2018's
KID on I3D features, whole sets and mean ± std over subsets), ``precision`` and ``recall``
(``precision_recall``: Kynkäänniemi et al. 2019, k = 3). One function per metric lives in its own
module; this one chooses, runs and (``bootstrap`` rounds) brackets them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from converter.errors import ConversionError
from converter.fvd.distance import Statistics, frechet_report, statistics
from converter.fvd.kvd import SUBSET_SIZE, SUBSETS, kvd, kvd_subsets
from converter.fvd.precision_recall import K, precision_recall
from converter.fvd.protocols import Protocol

METRICS = ("fvd", "kvd", "precision", "recall")


def parse_metrics(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"fvd,kvd"`` (or a list) → the metric names, checked and in ``METRICS`` order."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ConversionError(None, f"unknown metric {', '.join(unknown) or '(none)'}; choose from {','.join(METRICS)}")
    return tuple(n for n in METRICS if n in names)


@dataclass(frozen=True)
class MetricOptions:
    subsets: int = SUBSETS  # KVD subsets (KID's default)
    subset_size: int = SUBSET_SIZE  # KVD subset size (KID's default; cut to the smaller side)
    bootstrap: int = 0  # rounds; 0: no intervals
    seed: int = 0  # KVD subsets and bootstrap resampling
    k: int = K  # precision/recall nearest neighbours


@dataclass
class Evaluation:
    values: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. scipy's sqrtm failing, with the eigenvalue value
    kvd_subset_size: int = 0


def evaluate(
    real: np.ndarray | Statistics,
    fake: np.ndarray | Statistics,
    protocol: Protocol,
    metrics: tuple[str, ...] = ("fvd",),
    options: MetricOptions = MetricOptions(),
) -> Evaluation:
    """The ``metrics`` of ``fake`` against ``real``: features (N, D) per side, or ``Statistics`` when only
    FVD is asked for (KVD, precision, recall and intervals need each video's features)."""
    needs_features = [m for m in metrics if m != "fvd"] + (["--bootstrap"] if options.bootstrap else [])
    for side, given in (("real", real), ("fake", fake)):
        if needs_features and isinstance(given, Statistics):
            raise ConversionError(
                None,
                f"{', '.join(needs_features)} need each video's features but {side} is statistics; give videos "
                "or a features file (--save-features)",
            )
    out = Evaluation()
    if "fvd" in metrics:
        a = real if isinstance(real, Statistics) else statistics(real, protocol)
        b = fake if isinstance(fake, Statistics) else statistics(fake, protocol)
        report = frechet_report(a, b, protocol)
        out.values["fvd"] = report.value
        if report.problem:
            out.notes.append(report.problem)
            out.values["fvd_eigenvalue"] = report.eigenvalue_value
    if "kvd" in metrics:
        out.values["kvd"] = kvd(real, fake)
        mean, std, out.kvd_subset_size = kvd_subsets(real, fake, options.subsets, options.subset_size, options.seed)
        out.values["kvd_subsets_mean"], out.values["kvd_subsets_std"] = mean, std
    if "precision" in metrics or "recall" in metrics:
        precision, recall = precision_recall(real, fake, options.k)
        out.values.update({m: v for m, v in (("precision", precision), ("recall", recall)) if m in metrics})
    if options.bootstrap:
        from converter.fvd.bootstrap import percentile_intervals

        real_x, fake_x = np.asarray(real, np.float64), np.asarray(fake, np.float64)
        rounds = _bootstrapped(protocol, metrics, options.k)
        found = percentile_intervals(real_x, fake_x, rounds, out.values, options.bootstrap, options.seed)
        out.intervals = {name: _within(name, *pair) for name, pair in found.items()}
    return out


BOUNDS = {"fvd": (0.0, float("inf")), "precision": (0.0, 1.0), "recall": (0.0, 1.0)}  # KVD may be < 0


def _within(name: str, low: float, high: float) -> tuple[float, float]:
    """An interval cut to the values the metric can take (the bias shift can cross a bound)."""
    floor, ceiling = BOUNDS.get(name, (-float("inf"), float("inf")))
    return max(low, floor), min(high, ceiling)


def _bootstrapped(protocol: Protocol, metrics: tuple[str, ...], k: int):
    """f(real, fake) → {metric: value} for one bootstrap round (KVD over the whole resampled sets)."""

    def compute(r: np.ndarray, f: np.ndarray) -> dict[str, float]:
        values = {}
        if "fvd" in metrics:
            values["fvd"] = frechet_report(statistics(r, protocol), statistics(f, protocol), protocol).value
        if "kvd" in metrics:
            values["kvd"] = kvd(r, f)
        if "precision" in metrics or "recall" in metrics:
            pair = dict(zip(("precision", "recall"), precision_recall(r, f, k), strict=True))
            values.update({m: pair[m] for m in ("precision", "recall") if m in metrics})
        return values

    return compute
