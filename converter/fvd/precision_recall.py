"""Improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for
Assessing Generative Models") on FVD's I3D features.

Each set's manifold is the union of balls around its vectors, each ball's radius the distance to the
vector's k-th nearest other vector of the same set (k = 3, the paper's default). Precision: the share
of generated vectors inside the real manifold; recall: the share of real vectors inside the generated
manifold. Euclidean distances in float64, computed in blocks so memory stays O(block · N).
"""

from __future__ import annotations

import numpy as np

from converter.errors import ConversionError

K = 3  # the paper's nearest-neighbour count
BLOCK = 1024


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def radii(features: np.ndarray, k: int = K) -> np.ndarray:
    """(N,) distance from each vector to its k-th nearest other vector of ``features`` (N > k)."""
    out = np.empty(features.shape[0])
    for start in range(0, features.shape[0], BLOCK):
        block = _distances(features[start : start + BLOCK], features)
        out[start : start + BLOCK] = np.partition(block, k, axis=1)[:, k]  # column 0 is the vector itself
    return out


def coverage(manifold: np.ndarray, queries: np.ndarray, k: int = K) -> float:
    """The share of ``queries`` within k-NN balls of ``manifold`` (a ball includes its boundary)."""
    ball = radii(manifold, k)
    inside = 0
    for start in range(0, queries.shape[0], BLOCK):
        block = _distances(queries[start : start + BLOCK], manifold)
        inside += int((block <= ball[None, :]).any(axis=1).sum())
    return inside / queries.shape[0]


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = K) -> tuple[float, float]:
    """(precision, recall) of ``fake`` (n, d) against ``real`` (m, d), both with more than k vectors."""
    x, y = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    for side, f in (("real", x), ("fake", y)):
        if f.ndim != 2 or f.shape[0] <= k:
            raise ConversionError(None, f"precision/recall need more than {k} {side} videos; got shape {f.shape}")
    return coverage(x, y, k), coverage(y, x, k)
