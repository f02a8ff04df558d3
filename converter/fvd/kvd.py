"""Kernel Video Distance (KVD): the Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD
GANs") on FVD's I3D features, as the FVD paper (Unterthiner et al. 2018) reports it beside FVD.

The unbiased estimator of the squared maximum mean discrepancy with the cubic polynomial kernel
k(x, y) = (xᵀy / d + 1)³, d the feature size (400):

    MMD²ᵤ = Σ_{i≠j} k(xᵢ, xⱼ) / (m(m−1)) + Σ_{i≠j} k(yᵢ, yⱼ) / (n(n−1)) − 2 Σ_{i,j} k(xᵢ, yⱼ) / (mn)

over the whole sets (TF-GAN's ``kernel_classifier_distance_and_std_from_activations`` with one block),
and as mean ± std over random subsets (KID's protocol: MMD-GAN's ``polynomial_mmd_averages``,
torch-fidelity's defaults of 100 subsets of 1000 videos per side, drawn without replacement; subsets
are cut to the smaller set's size when a side has fewer videos). Computed in float64.
"""

from __future__ import annotations

import numpy as np

from converter.errors import ConversionError

SUBSETS = 100  # torch-fidelity's kid_subsets
SUBSET_SIZE = 1000  # torch-fidelity's kid_subset_size, MMD-GAN's subset_size


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(m, d), (n, d) → (m, n): (xᵀy / d + 1)³ in float64."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def kvd(real: np.ndarray, fake: np.ndarray) -> float:
    """The unbiased MMD² between features ``real`` (m, d) and ``fake`` (n, d), m, n ≥ 2; a float that may
    be slightly negative when the sets are alike (it is unbiased)."""
    x, y = _as_float64(real, "real"), _as_float64(fake, "fake")
    m, n = x.shape[0], y.shape[0]
    k_xx, k_yy = polynomial_kernel(x, x), polynomial_kernel(y, y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * polynomial_kernel(x, y).mean())


def kvd_subsets(
    real: np.ndarray, fake: np.ndarray, subsets: int = SUBSETS, subset_size: int = SUBSET_SIZE, seed: int = 0
) -> tuple[float, float, int]:
    """(mean, std, size used) of ``kvd`` over ``subsets`` random subsets of ``subset_size`` videos per side
    (at most the smaller side's count), each drawn without replacement from a generator seeded by ``seed``."""
    if subsets < 1 or subset_size < 2:
        raise ConversionError(None, f"KVD needs --subsets ≥ 1 and --subset-size ≥ 2, got {subsets}, {subset_size}")
    x, y = _as_float64(real, "real"), _as_float64(fake, "fake")
    size = min(subset_size, x.shape[0], y.shape[0])
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        r = x[rng.choice(x.shape[0], size, replace=False)]
        f = y[rng.choice(y.shape[0], size, replace=False)]
        values[i] = kvd(r, f)
    return float(values.mean()), float(values.std()), size


def _as_float64(features: np.ndarray, side: str) -> np.ndarray:
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ConversionError(None, f"KVD needs {side} features (N ≥ 2, D); got shape {x.shape}")
    return x
