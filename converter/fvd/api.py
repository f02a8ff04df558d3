"""``fvd(real, fake)``: both sides' statistics (from videos or from saved statistics) and their distance.

torch is imported only when a side needs features, so two statistics files compare in a blink."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from converter.errors import ConversionError
from converter.fvd.distance import Statistics, frechet_distance, is_statistics_file, load_statistics, statistics
from converter.fvd.protocols import Protocol, get_protocol

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Result:
    """An FVD and what it was computed from (the ``--json`` output of the ``fvd`` command)."""

    fvd: float
    n_real: int
    n_fake: int
    protocol: str
    frames: int  # frames per clip; 0: every frame of each video
    stride: int
    weights_sha256: str
    skipped_real: int = 0  # videos too short for a clip (stylegan-v discards them)
    skipped_fake: int = 0
    seconds: float = 0.0


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


def side_statistics(
    videos, *, protocol: str | Protocol = "tf", detector: _Detector | None = None, **options
) -> tuple[Statistics, int]:
    """(statistics, videos skipped) of one side: a ``Statistics``, a statistics file, or videos (any
    ``i3d_features`` input; ``options`` are its keyword arguments)."""
    protocol = get_protocol(protocol)
    if isinstance(videos, Statistics):
        stats = videos
    elif isinstance(videos, (str, os.PathLike)) and is_statistics_file(videos):
        stats = load_statistics(videos)
        if stats.protocol != protocol.name:
            raise ConversionError(videos, f"statistics for protocol {stats.protocol!r}; this run is {protocol.name!r}")
    else:
        from converter.fvd.features import extract

        detector = detector or _Detector(None, None, None)
        found = extract(videos, model=detector.get(), protocol=protocol, **options)
        if found.features.shape[0] < 2:
            name = os.fspath(videos) if isinstance(videos, (str, os.PathLike)) else "videos"
            raise ConversionError(name, f"FVD needs at least 2 videos, got {found.features.shape[0]}")
        stats = statistics(
            found.features,
            protocol,
            weights_sha256=found.weights_sha256,
            frames=found.frames,
            stride=found.stride,
        )
        return stats, len(found.skipped)
    return stats, 0


def compute(
    real,
    fake,
    *,
    weights: str | os.PathLike[str] | None = None,
    model: torch.nn.Module | None = None,
    protocol: str | Protocol = "tf",
    frames: int | None = None,
    stride: int = 1,
    max_videos: int | None = None,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    backend: str | None = "eager",
    seed: int = 0,
    progress: bool = False,
    save_real: str | os.PathLike[str] | None = None,
    save_fake: str | os.PathLike[str] | None = None,
) -> Result:
    """``fvd`` with its provenance; ``save_real``/``save_fake`` write each side's statistics file."""
    start = time.perf_counter()
    protocol = get_protocol(protocol)
    detector = _Detector(model, weights, device, backend, precision)
    options = {
        "frames": frames,
        "stride": stride,
        "max_videos": max_videos,
        "batch_size": batch_size,
        "precision": precision,
        "seed": seed,
        "progress": progress,
    }
    a, skipped_real = side_statistics(real, protocol=protocol, detector=detector, **options)
    if save_real is not None:
        a.save(Path(save_real))
    b, skipped_fake = side_statistics(fake, protocol=protocol, detector=detector, **options)
    if save_fake is not None:
        b.save(Path(save_fake))
    if a.frames != b.frames or a.stride != b.stride:
        raise ConversionError(
            None,
            f"real clips are {a.frames or 'all'} frames every {a.stride}, fake {b.frames or 'all'} every {b.stride}",
        )
    value = frechet_distance(a, b, protocol)
    return Result(
        value,
        a.n,
        b.n,
        protocol.name,
        a.frames,
        a.stride,
        a.weights_sha256 or b.weights_sha256,
        skipped_real,
        skipped_fake,
        time.perf_counter() - start,
    )


def fvd(real, fake, **options) -> float:
    """Fréchet Video Distance (Unterthiner et al. 2018) between two sets of videos, exactly as TensorFlow's.

    ``real``/``fake``: (N, T, H, W, 3) arrays with values 0..255, ``.npy``/``.npz`` files, folders of
    videos/GIFs/frame folders, ``Statistics`` or statistics files (``Statistics.save``); N ≥ 2 each,
    any N (no multiple-of-16 rule). ``options``: ``weights``/``model``, ``protocol`` (``tf``: the original;
    ``stylegan-v``), ``frames``, ``stride``, ``max_videos``, ``batch_size``, ``device``, ``precision``
    (``fp32``: the recipe), ``seed``, ``progress`` — see ``i3d_features``; ``backend`` ``eager`` (default, the
    reference) or ``fast`` (``converter.fast``: OpenVINO on CPU, features within 1e-4, docs/speed.md).
    A dimensionless float.
    """
    return compute(real, fake, **options).fvd
