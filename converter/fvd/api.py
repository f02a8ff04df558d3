"""``fvd(real, fake)``: both sides' statistics (from videos or from saved statistics) and their distance.

torch is imported only when a side needs features, so two statistics files compare in a blink."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from converter.errors import ConversionError
from converter.fvd.bootstrap import LEVEL
from converter.fvd.distance import Statistics, is_statistics_file, load_statistics, statistics
from converter.fvd.featurefile import Features, is_features_file, load_features
from converter.fvd.kvd import SUBSET_SIZE, SUBSETS
from converter.fvd.metrics import MetricOptions, evaluate, parse_metrics
from converter.fvd.protocols import Protocol, get_protocol

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Result:
    """FVD (and the other metrics asked for) and what they were computed from: the ``--json`` output.

    ``metrics``: every value (``fvd``, ``kvd``, ``kvd_subsets_mean``/``_std``, ``precision``, ``recall``;
    ``fvd_eigenvalue`` beside a failed scipy square root); ``intervals``: ``--bootstrap`` percentile
    intervals per metric; ``settings``: the choices the values depend on; ``videos``: each side's videos
    in the order taken (paths under a folder, ``file[i]`` in an array; empty for statistics);
    ``notes``: problems found on the way (never silent)."""

    fvd: float | None
    n_real: int
    n_fake: int
    protocol: str
    frames: int  # frames per clip; 0: every frame of each video
    stride: int
    weights_sha256: str
    skipped_real: int = 0  # videos too short for a clip (stylegan-v discards them)
    skipped_fake: int = 0
    seconds: float = 0.0
    metrics: dict = field(default_factory=dict)
    intervals: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    videos: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


class _Detector:
    """Loads the model the first time a side needs features, not for two statistics files."""

    def __init__(self, model, weights, device, backend: str | None = "eager", precision: str = "fp32") -> None:
        self.model, self.weights, self.device = model, weights, device
        self.backend, self.precision = backend, precision

    def get(self) -> torch.nn.Module:
        if self.model is None:
            from converter.fast import accelerate
            from converter.fvd.features import default_device, load_detector
            from converter.precision import prepare

            model = prepare(load_detector(self.weights, default_device(self.device)), self.precision)
            self.model = accelerate(model, self.backend, precision=self.precision)
        return self.model


Side = Features | Statistics


def side_data(
    videos, *, protocol: str | Protocol = "tf", detector: _Detector | None = None, fake: bool = False, **options
) -> Side:
    """One side as ``Features`` (from videos — any ``i3d_features`` input, ``options`` its keyword
    arguments — or a features file) or ``Statistics`` (a statistics file); either made under another
    protocol is refused."""
    protocol = get_protocol(protocol)
    given: Side | None = videos if isinstance(videos, (Statistics, Features)) else None
    if given is None and isinstance(videos, (str, os.PathLike)):
        if is_statistics_file(videos):
            given = load_statistics(videos)
        elif is_features_file(videos):
            given = load_features(videos)
    if given is not None:
        if given.protocol != protocol.name:
            what = "statistics" if isinstance(given, Statistics) else "features"
            name = os.fspath(videos) if isinstance(videos, (str, os.PathLike)) else None
            raise ConversionError(name, f"{what} for protocol {given.protocol!r}; this run is {protocol.name!r}")
        return given
    from converter.fvd.features import extract

    detector = detector or _Detector(None, None, None)
    found = extract(videos, model=detector.get(), protocol=protocol, fake=fake, **options)
    if found.features.shape[0] < 2:
        name = os.fspath(videos) if isinstance(videos, (str, os.PathLike)) else "videos"
        short = f" ({len(found.skipped)} shorter than a clip were left out)" if found.skipped else ""
        raise ConversionError(name, f"FVD needs at least 2 videos, got {found.features.shape[0]}{short}")
    return Features(
        found.features,
        found.names,
        found.offsets,
        protocol.name,
        found.weights_sha256,
        found.frames,
        found.stride,
        len(found.skipped),
    )


def as_statistics(side: Side, protocol: str | Protocol) -> Statistics:
    """A side's statistics (computed from its features when it has them)."""
    if isinstance(side, Statistics):
        return side
    return statistics(
        side.features, protocol, weights_sha256=side.weights_sha256, frames=side.frames, stride=side.stride
    )


def compute(
    real,
    fake,
    *,
    weights: str | os.PathLike[str] | None = None,
    model: torch.nn.Module | None = None,
    protocol: str | Protocol = "tf",
    frames: int | None = None,
    stride: int | None = None,
    max_videos: int | None = None,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    backend: str | None = "eager",
    seed: int = 0,
    progress: bool = False,
    value_range: str = "0-255",
    metrics: str | tuple[str, ...] = ("fvd",),
    subsets: int = SUBSETS,
    subset_size: int = SUBSET_SIZE,
    bootstrap: int = 0,
    save_real: str | os.PathLike[str] | None = None,
    save_fake: str | os.PathLike[str] | None = None,
    save_real_features: str | os.PathLike[str] | None = None,
    save_fake_features: str | os.PathLike[str] | None = None,
) -> Result:
    """``fvd`` and the other ``metrics`` (``fvd``, ``kvd``, ``precision``, ``recall``; see
    ``converter.fvd.metrics``) with their provenance and, with ``bootstrap`` rounds, 95 % percentile
    intervals; ``save_real``/``save_fake`` write each side's statistics file, ``save_*_features`` its
    per-video features (``converter.fvd.featurefile``)."""
    start = time.perf_counter()
    protocol = get_protocol(protocol)
    names = parse_metrics(metrics)
    options = MetricOptions(subsets, subset_size, bootstrap, seed)
    detector = _Detector(model, weights, device, backend, precision)
    extraction = {
        "frames": frames,
        "stride": stride,
        "max_videos": max_videos,
        "batch_size": batch_size,
        "precision": precision,
        "seed": seed,
        "progress": progress,
        "value_range": value_range,
    }
    sides = []
    for given, is_fake, save_stats, save_features in (
        (real, False, save_real, save_real_features),
        (fake, True, save_fake, save_fake_features),
    ):
        side = side_data(given, protocol=protocol, detector=detector, fake=is_fake, **extraction)
        if save_stats is not None:
            as_statistics(side, protocol).save(Path(save_stats))
        if save_features is not None:
            if not isinstance(side, Features):
                raise ConversionError(save_features, "a statistics file holds no per-video features to save")
            side.save(Path(save_features))
        sides.append(side)
    a, b = sides
    _check_comparable(a, b)
    evaluation = evaluate(*(s if isinstance(s, Statistics) else s.features for s in sides), protocol, names, options)
    return Result(
        evaluation.values.get("fvd"),
        a.n,
        b.n,
        protocol.name,
        a.frames,
        a.stride,
        a.weights_sha256 or b.weights_sha256,
        getattr(a, "skipped", 0),
        getattr(b, "skipped", 0),
        time.perf_counter() - start,
        metrics=evaluation.values,
        intervals={name: list(pair) for name, pair in evaluation.intervals.items()},
        settings=_settings(protocol, names, options, evaluation, value_range, max_videos),
        videos={side: getattr(s, "names", []) for side, s in (("real", a), ("fake", b))},
        notes=evaluation.notes,
    )


def _check_comparable(a: Side, b: Side) -> None:
    if a.frames != b.frames or a.stride != b.stride:
        raise ConversionError(
            None,
            f"real clips are {a.frames or 'all'} frames every {a.stride}, fake {b.frames or 'all'} every {b.stride}",
        )
    if a.weights_sha256 and b.weights_sha256 and a.weights_sha256 != b.weights_sha256:
        raise ConversionError(
            None, f"sides from different weights (sha256 {a.weights_sha256[:16]}… vs {b.weights_sha256[:16]}…)"
        )


def _settings(protocol: Protocol, names, options: MetricOptions, evaluation, value_range: str, max_videos) -> dict:
    settings = {
        "metrics": list(names),
        "protocol": protocol.name,
        "protocol_source": protocol.description,
        "value_range": value_range,
        "max_videos": max_videos if max_videos is not None else protocol.max_videos,
        "video_sampling": protocol.video_sampling,
        "seed": options.seed,
    }
    if "kvd" in names:
        settings.update(
            kvd_kernel="(x.y/d + 1)^3", kvd_subsets=options.subsets, kvd_subset_size=evaluation.kvd_subset_size
        )
    if "precision" in names or "recall" in names:
        settings["precision_recall_k"] = options.k
    if options.bootstrap:
        settings.update(
            bootstrap_rounds=options.bootstrap,
            bootstrap_level=LEVEL,
            bootstrap_method="percentile, shifted by the bootstrap bias estimate",
        )
    return settings


def fvd(real, fake, **options) -> float:
    """Fréchet Video Distance (Unterthiner et al. 2018) between two sets of videos, exactly as TensorFlow's.

    ``real``/``fake``: (N, T, H, W, 3) arrays with values 0..255 (or [0, 1] floats with
    ``value_range="0-1"``), ``.npy``/``.npz`` files, folder trees of videos/GIFs/frame folders,
    ``Statistics`` or statistics files (``Statistics.save``), features files (``save_real_features``);
    N ≥ 2 each, any N (no multiple-of-16 rule). ``options``: ``weights``/``model``, ``protocol`` (``tf``:
    the original; ``stylegan-v``, ``fvd2048_16f``, ``fvd2048_128f``, ``fvd2048_128f_subsample8f``),
    ``frames``, ``stride``, ``max_videos``, ``batch_size``, ``device``, ``precision`` (``fp32``: the
    recipe), ``seed``, ``progress``, ``backend`` (``eager``, the default and the reference, or ``fast``:
    ``converter.fast``, OpenVINO on CPU, features within 1e-4, docs/speed.md) — see ``i3d_features`` and
    ``compute``. A dimensionless float.
    """
    value = compute(real, fake, **options).fvd
    if value is None:
        raise ConversionError(None, "fvd() computes FVD; use compute() for the other metrics")
    return value
