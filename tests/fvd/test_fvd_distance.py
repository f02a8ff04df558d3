"""Step 5 against TF-GAN's distance in TensorFlow ops; StyleGAN-V's statistics; statistics files."""

from __future__ import annotations

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.fvd import frechet_distance, load_statistics, statistics
from converter.fvd.distance import is_statistics_file


def _activations(n: int, rank: int | None, seed: int, shift: float = 0.0, dim: int = 400) -> np.ndarray:
    """(n, dim) float32 logit-like activations, of the given rank when ``rank`` is set."""
    rng = np.random.default_rng(seed)
    if rank is None:
        x = rng.normal(0, 3, (n, dim))
    else:
        x = rng.normal(0, 3, (n, rank)) @ rng.normal(0, 1, (rank, dim)) / np.sqrt(rank)
    return (x + shift + rng.normal(0, 1, dim)).astype(np.float32)


@pytest.mark.parametrize(
    "n1, n2, rank",
    [(5, 6, None), (37, 50, None), (400, 300, None), (450, 500, None), (64, 64, 10), (16, 7, 3)],
    ids=lambda v: str(v),
)
def test_tf_protocol_equals_tf_gan(n1, n2, rank):
    """Rank-deficient (N ≤ 400, or low-rank activations) and full-rank: ≤ 1e-6 relative to TF ops."""
    pytest.importorskip("tensorflow")
    from tests.fvd.tf_pipeline import frechet_classifier_distance_from_activations

    a, b = _activations(n1, rank, seed=n1), _activations(n2, rank, seed=n2 + 1, shift=0.3)
    ours = frechet_distance(statistics(a), statistics(b))
    theirs = frechet_classifier_distance_from_activations(a, b)
    assert ours > 0 and abs(ours - theirs) <= 1e-6 * abs(theirs)


def test_tf_protocol_statistics_are_unbiased_float64():
    x = _activations(9, None, seed=0)
    stats = statistics(x)
    assert stats.mean.dtype == stats.covariance.dtype == np.float64 and stats.n == 9
    np.testing.assert_allclose(stats.covariance, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-12, atol=1e-12)


def test_stylegan_v_protocol_is_its_feature_stats_and_sqrtm():
    """StyleGAN-V: Σxxᵀ/N - μμᵀ (FeatureStats.get_mean_cov) and sqrtm(Σ_fake Σ_real), real part."""
    import scipy.linalg

    real, fake = _activations(40, None, seed=1, dim=48), _activations(30, None, seed=2, shift=0.2, dim=48)
    a, b = statistics(real, "stylegan-v"), statistics(fake, "stylegan-v")
    np.testing.assert_allclose(a.covariance, np.cov(real.astype(np.float64), rowvar=False, bias=True), atol=1e-10)
    m = np.square(b.mean - a.mean).sum()
    s = scipy.linalg.sqrtm(np.dot(b.covariance, a.covariance))
    expected = float(np.real(m + np.trace(b.covariance + a.covariance - s * 2)))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-12)
    tf_value = frechet_distance(statistics(real), statistics(fake))
    assert abs(frechet_distance(a, b) - tf_value) > 1e-3 * tf_value  # the protocols do differ


def test_statistics_file_round_trip_and_refusals(tmp_path):
    a = statistics(_activations(6, None, seed=3, dim=32), weights_sha256="ab" * 32, frames=16, stride=2)
    b = statistics(_activations(7, None, seed=4, dim=32), weights_sha256="ab" * 32, frames=16, stride=2)
    path = a.save(tmp_path / "real.npz")
    assert is_statistics_file(path) and not is_statistics_file(tmp_path / "nothing.npz")
    back = load_statistics(path)
    assert np.array_equal(back.covariance, a.covariance) and (back.n, back.frames, back.stride) == (6, 16, 2)
    assert frechet_distance(back, b) == frechet_distance(a, b)
    with pytest.raises(ConversionError, match="fake statistics are for protocol 'stylegan-v', not 'tf'"):
        frechet_distance(a, statistics(_activations(7, None, seed=4, dim=32), "stylegan-v"))
    other = statistics(_activations(7, None, seed=4, dim=32), weights_sha256="cd" * 32)
    with pytest.raises(ConversionError, match="different weights"):
        frechet_distance(a, other)
    (tmp_path / "bad.npz").write_bytes(path.read_bytes()[:100])
    with pytest.raises(ConversionError, match="bad.npz: not a readable FVD statistics file"):
        load_statistics(tmp_path / "bad.npz")


@pytest.mark.parametrize("features", [np.zeros((1, 400)), np.zeros(400), np.full((3, 400), np.nan)])
def test_statistics_need_two_finite_vectors(features):
    with pytest.raises(ConversionError):
        statistics(features)


def _rank_deficient_pair():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(10, 40)), rng.normal(0.2, 1.0, size=(12, 40))
    from converter.fvd import statistics

    return statistics(a, "stylegan-v"), statistics(b, "stylegan-v")


@pytest.mark.parametrize(
    "broken, problem",
    [
        (lambda m: np.full_like(m, np.nan), "non-finite square root"),
        (lambda m: m * 1.05 + 1e-3j, "square root is off"),
        (lambda m: m * 1e6, "negative FVD"),
    ],
)
def test_sqrtm_failure_is_reported_with_the_eigenvalue_value(monkeypatch, broken, problem):
    """A complex, negative or non-finite scipy.linalg.sqrtm result (seen on rank-deficient covariances
    with some scipy versions) is never returned silently: a warning names it and the eigenvalue value."""
    import scipy.linalg

    from converter.fvd.distance import frechet_distance, frechet_report

    a, b = _rank_deficient_pair()
    good = frechet_report(a, b)
    assert good.problem == "" and good.value == pytest.approx(good.eigenvalue_value, rel=1e-6)
    real_sqrtm = scipy.linalg.sqrtm
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda m, *args, **kw: broken(real_sqrtm(m)))
    report = frechet_report(a, b)
    assert problem in report.problem and f"the eigenvalue-based value is {good.eigenvalue_value:.6f}" in report.problem
    with pytest.warns(RuntimeWarning, match=problem):
        frechet_distance(a, b)
