"""Fréchet Video Distance (Unterthiner et al. 2018) exactly as TensorFlow computes it.

``fvd(real, fake) -> float`` (``compute`` for KVD, precision/recall and intervals; ``FVD`` to feed batch by
batch); the steps: ``i3d_features(videos) -> (N, 400)``, ``statistics(features)``,
``frechet_distance(stats_a, stats_b)``; ``legacy_resize_bilinear`` is TF1's resize in torch. Names are
imported on first use, so ``import converter.fvd`` is cheap (no torch, no scipy).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "fvd": "converter.fvd.api",
    "FVD": "converter.fvd.streaming",
    "kvd": "converter.fvd.kvd",
    "precision_recall": "converter.fvd.precision_recall",
    "Features": "converter.fvd.featurefile",
    "load_features": "converter.fvd.featurefile",
    "compute": "converter.fvd.api",
    "Result": "converter.fvd.api",
    "i3d_features": "converter.fvd.features",
    "load_detector": "converter.fvd.features",
    "statistics": "converter.fvd.distance",
    "frechet_distance": "converter.fvd.distance",
    "load_statistics": "converter.fvd.distance",
    "Statistics": "converter.fvd.distance",
    "legacy_resize_bilinear": "converter.fvd.resize",
    "PROTOCOLS": "converter.fvd.protocols",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'converter.fvd' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
