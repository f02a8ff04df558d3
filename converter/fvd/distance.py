"""The Fréchet distance between two sets of I3D logits, and the statistics it needs (float64 throughout).

``tf`` protocol — TF-GAN's ``frechet_classifier_distance_from_activations``
(``tensorflow_gan/python/eval/classifier_metrics.py``): activations cast to float64; unbiased covariances
``N/(N-1)·cov``; ``Tr√(Σ₁Σ₂)`` as ``Tr√(A Σ₂ A)`` with ``A = √Σ₁``, every square root of a symmetric
matrix by SVD with singular values below 1e-10 left un-rooted; ``‖μ₁-μ₂‖² + Tr(Σ₁+Σ₂) - 2·Tr√(A Σ₂ A)``
cast back to float32. ``stylegan-v`` protocol — StyleGAN-V's ``FeatureStats.get_mean_cov`` (covariance
``Σxxᵀ/N - μμᵀ``) and ``compute_fvd`` (``scipy.linalg.sqrtm(Σ_fake·Σ_real)``, real part).
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converter.errors import ConversionError
from converter.fvd.featurefile import npz_format
from converter.fvd.protocols import Protocol, get_protocol
from converter.outputs import write_bytes

SVD_EPS = 1e-10  # TF-GAN's _symmetric_matrix_square_root(eps=1e-10)
STATS_FORMAT = "i3d-converter fvd statistics 1"


@dataclass(frozen=True)
class Statistics:
    """Mean (D,) and covariance (D, D) of N feature vectors, float64, as ``protocol`` defines them.

    ``weights_sha256`` identifies the detector's weights and ``frames``/``stride`` the clips; a statistics
    file carries them so that both sides of a distance are known to be comparable.
    """

    mean: np.ndarray
    covariance: np.ndarray
    n: int
    protocol: str
    weights_sha256: str = ""
    frames: int = 0  # 0: every frame of each video
    stride: int = 1

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a ``.npz`` (atomically: a complete file or none) that ``load_statistics`` and the
        ``fvd`` command read back."""
        buffer = io.BytesIO()
        np.savez(
            buffer,
            format=np.array(STATS_FORMAT),
            mean=self.mean,
            covariance=self.covariance,
            n=np.int64(self.n),
            protocol=np.array(self.protocol),
            weights_sha256=np.array(self.weights_sha256),
            frames=np.int64(self.frames),
            stride=np.int64(self.stride),
        )
        return write_bytes(Path(path), buffer.getvalue(), "statistics")


def is_statistics_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a statistics ``.npz`` written by ``Statistics.save`` (not a video array)."""
    return npz_format(path) == STATS_FORMAT


def load_statistics(path: str | os.PathLike[str]) -> Statistics:
    """Read a statistics file; ConversionError naming the file when it is not one or is damaged."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["format"]) != STATS_FORMAT:
                raise ConversionError(path, f"not an FVD statistics file (format {str(data['format'])!r})")
            stats = Statistics(
                mean=data["mean"],
                covariance=data["covariance"],
                n=int(data["n"]),
                protocol=str(data["protocol"]),
                weights_sha256=str(data["weights_sha256"]),
                frames=int(data["frames"]),
                stride=int(data["stride"]),
            )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise ConversionError(path, f"not a readable FVD statistics file: {err}") from None
    d = stats.mean.shape[0] if stats.mean.ndim == 1 else -1
    if d < 1 or stats.covariance.shape != (d, d) or stats.n < 2:
        raise ConversionError(
            path, f"damaged statistics: mean {stats.mean.shape}, covariance {stats.covariance.shape}, n {stats.n}"
        )
    return stats


def statistics(features: np.ndarray, protocol: str | Protocol = "tf", **provenance) -> Statistics:
    """Mean and covariance of ``features`` (N, D) — I3D logits, (N, 400) — in float64, per ``protocol``.

    ``tf``: covariance of the centred features divided by N - 1 (TF-GAN's ``N/(N-1)·tfp.stats.covariance``).
    ``stylegan-v``: ``Σxxᵀ/N - μμᵀ`` (StyleGAN-V's ``FeatureStats``). ``provenance`` (``weights_sha256``,
    ``frames``, ``stride``) is recorded. Needs N ≥ 2 finite vectors (ConversionError otherwise).
    """
    protocol = get_protocol(protocol)
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ConversionError(None, f"FVD needs features (N ≥ 2, D); got shape {x.shape}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ConversionError(None, "features contain NaN or infinity")
    n = x.shape[0]
    mean = x.mean(axis=0)
    if protocol.covariance_divisor == "n-1":
        centred = x - mean
        covariance = centred.T @ centred / (n - 1)
    else:
        covariance = x.T @ x / n - np.outer(mean, mean)
    return Statistics(mean, covariance, n, protocol.name, **provenance)


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """TF-GAN's ``_symmetric_matrix_square_root``: U·diag(s or √s)·Vᵀ, singular values < 1e-10 un-rooted."""
    import scipy.linalg

    u, s, vh = scipy.linalg.svd(matrix)
    rooted = np.where(s < SVD_EPS, s, np.sqrt(s))
    return (u * rooted) @ vh


@dataclass(frozen=True)
class Distance:
    """A Fréchet distance and, under ``sqrtm`` protocols, its check: ``eigenvalue_value`` is the same
    distance with Tr√(Σ_fake Σ_real) as Σ√max(λᵢ, 0) over the product's eigenvalues; ``problem`` says
    what was wrong with scipy's result ("" when nothing was)."""

    value: float
    eigenvalue_value: float | None = None
    problem: str = ""


def frechet_distance(a: Statistics, b: Statistics, protocol: str | Protocol | None = None) -> float:
    """The Fréchet distance between two Gaussians (FVD when they hold I3D logits), a float.

    ``a`` is the real side and ``b`` the generated one (the distance is symmetric up to rounding).
    ``protocol`` defaults to the statistics' own; both must have been made under it, with the same
    weights and feature size (ConversionError otherwise). ``tf`` returns the float32-rounded value,
    as TF-GAN does for float32 activations. Under StyleGAN-V's protocols a complex, negative or
    non-finite ``scipy.linalg.sqrtm`` result is reported by a ``RuntimeWarning`` naming the
    eigenvalue-based value (``frechet_report`` returns both).
    """
    report = frechet_report(a, b, protocol)
    if report.problem:
        warnings.warn(report.problem, RuntimeWarning, stacklevel=2)
    return report.value


def frechet_report(a: Statistics, b: Statistics, protocol: str | Protocol | None = None) -> Distance:
    """``frechet_distance`` with the check of scipy's square root (see ``Distance``)."""
    protocol = get_protocol(protocol or a.protocol)
    for side, stats in (("real", a), ("fake", b)):
        if stats.protocol != protocol.name:
            raise ConversionError(None, f"{side} statistics are for protocol {stats.protocol!r}, not {protocol.name!r}")
    if a.weights_sha256 and b.weights_sha256 and a.weights_sha256 != b.weights_sha256:
        raise ConversionError(
            None, f"statistics from different weights (sha256 {a.weights_sha256[:16]}… vs {b.weights_sha256[:16]}…)"
        )
    if a.mean.shape != b.mean.shape:
        raise ConversionError(None, f"feature sizes differ: {a.mean.shape[0]} vs {b.mean.shape[0]}")
    mean_term = float(np.sum(np.square(a.mean - b.mean)))
    if protocol.square_root == "svd":
        root = _symmetric_sqrt(a.covariance)
        trace_sqrt = np.trace(_symmetric_sqrt(root @ (b.covariance @ root)))
        distance = np.trace(a.covariance + b.covariance) - 2.0 * trace_sqrt + mean_term
        return Distance(float(np.float32(distance)))
    import scipy.linalg

    product = b.covariance @ a.covariance
    root = scipy.linalg.sqrtm(product)  # StyleGAN-V: sqrtm(sigma_gen · sigma_real)
    value = float(np.real(mean_term + np.trace(b.covariance + a.covariance - root * 2)))
    eigen_trace = float(np.sum(np.sqrt(np.maximum(np.real(np.linalg.eigvals(product)), 0.0))))
    eigen = float(mean_term + np.trace(a.covariance + b.covariance) - 2.0 * eigen_trace)
    return Distance(value, eigen, _sqrtm_problem(root, value, eigen))


SQRTM_TOLERANCE = 1e-3  # relative gap between scipy's and the eigenvalue-based trace flagged as a failure


def _sqrtm_problem(root: np.ndarray, value: float, eigen: float) -> str:
    """Why scipy's square root cannot be trusted ("" when it can)."""
    beside = f"; the eigenvalue-based value is {eigen:.6f}"
    if not np.isfinite(root).all() or not np.isfinite(value):
        return f"scipy.linalg.sqrtm gave a non-finite square root (FVD {value}){beside}"
    if value < 0:
        return f"scipy.linalg.sqrtm gave a negative FVD {value:.6f}{beside}"
    imaginary = float(np.abs(np.imag(root)).max()) if np.iscomplexobj(root) else 0.0
    gap = abs(value - eigen)
    if gap > SQRTM_TOLERANCE * max(1.0, abs(eigen)):
        return f"scipy.linalg.sqrtm's square root is off (complex part up to {imaginary:.3g}; FVD {value:.6f}){beside}"
    return ""
