"""KVD against two references on random features, ≤ 1e-6 relative.

1. TF-GAN's ``kernel_classifier_distance_and_std_from_activations`` (``tensorflow_gan/python/eval/
   classifier_metrics.py``): TF-GAN does not import under TF 2.21, so its block estimator is written here
   in TF ops as that file defines it — blocks of at most ``max_block_size`` rows, per block
   ``−2·mean(k_rg) + (Σk_rr − tr k_rr)/(m(m−1)) + (Σk_gg − tr k_gg)/(n(n−1))``, the mean over blocks and
   √(var/n_blocks) with Bessel's correction. With one block it is our whole-set KVD.
2. The numpy ``polynomial_mmd`` of Bińkowski et al.'s MMD-GAN code (``gan/compute_scores.py``), written
   here from its definition: sklearn's ``polynomial_kernel`` (γ = 1/d, coef0 = 1, degree 3) and
   ``_mmd2_and_variance``'s unbiased estimate for equal-size sets; ``polynomial_mmd_averages`` draws each
   subset with ``choice(len, subset_size, replace=False)`` per side and reports mean and std.
"""

from __future__ import annotations

import numpy as np
import pytest

from converter.fvd.kvd import kvd, kvd_subsets


def _features(seed: int, n: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(shift, 1.0, (n, 400)) * rng.uniform(0.5, 2.0, 400)).astype(np.float32)


def tf_gan_kid_and_std(real: np.ndarray, fake: np.ndarray, max_block_size: int) -> tuple[float, float]:
    tf = pytest.importorskip("tensorflow")
    r_all, g_all = tf.constant(real, tf.float64), tf.constant(fake, tf.float64)
    n_r, n_g = real.shape[0], fake.shape[0]
    n_blocks = int(np.ceil(max(n_r, n_g) / max_block_size))
    v_r, v_g = n_r // n_blocks, n_g // n_blocks
    sizes_r = [v_r] * (n_blocks - (n_r - v_r * n_blocks)) + [v_r + 1] * (n_r - v_r * n_blocks)
    sizes_g = [v_g] * (n_blocks - (n_g - v_g * n_blocks)) + [v_g + 1] * (n_g - v_g * n_blocks)
    inds_r, inds_g = np.concatenate([[0], np.cumsum(sizes_r)]), np.concatenate([[0], np.cumsum(sizes_g)])
    dim = tf.cast(real.shape[1], tf.float64)
    estimates = []
    for i in range(n_blocks):
        r, g = r_all[inds_r[i] : inds_r[i + 1]], g_all[inds_g[i] : inds_g[i + 1]]
        m, n = tf.cast(tf.shape(r)[0], tf.float64), tf.cast(tf.shape(g)[0], tf.float64)
        k_rr = (tf.matmul(r, r, transpose_b=True) / dim + 1) ** 3
        k_rg = (tf.matmul(r, g, transpose_b=True) / dim + 1) ** 3
        k_gg = (tf.matmul(g, g, transpose_b=True) / dim + 1) ** 3
        estimates.append(
            -2 * tf.reduce_mean(k_rg)
            + (tf.reduce_sum(k_rr) - tf.linalg.trace(k_rr)) / (m * (m - 1))
            + (tf.reduce_sum(k_gg) - tf.linalg.trace(k_gg)) / (n * (n - 1))
        )
    ests = tf.stack(estimates)
    mean = tf.reduce_mean(ests)
    var = tf.reduce_sum(tf.square(ests - mean)) / (n_blocks - 1) if n_blocks > 1 else float("nan")
    return float(mean), float(np.sqrt(var / n_blocks))


def mmd_gan_polynomial_mmd(codes_g: np.ndarray, codes_r: np.ndarray) -> float:
    """MMD-GAN's ``polynomial_mmd`` (unbiased, equal sizes m): (ΣK̃_XX + ΣK̃_YY)/(m(m−1)) − 2ΣK_XY/m²."""
    x, y = codes_g.astype(np.float64), codes_r.astype(np.float64)
    gamma = 1.0 / x.shape[1]
    k_xx, k_yy, k_xy = ((a @ b.T * gamma + 1.0) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    m = k_xx.shape[0]
    return float((k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1)) - 2 * k_xy.sum() / m**2)


@pytest.mark.parametrize("n_real, n_fake", [(300, 300), (257, 190)])
def test_whole_set_kvd_equals_tf_gan_with_one_block(n_real, n_fake):
    real, fake = _features(0, n_real), _features(1, n_fake, shift=0.3)
    ours = kvd(real, fake)
    theirs, _ = tf_gan_kid_and_std(real, fake, max_block_size=1024)
    print(f"\nKVD ours {ours:.9f}, TF-GAN {theirs:.9f}, relative {abs(ours / theirs - 1):.1e}")
    assert theirs > 0.01 and ours == pytest.approx(theirs, rel=1e-6)


def test_tf_gan_blocks_are_kvd_of_each_block():
    """TF-GAN's multi-block mean is the mean of our KVD over the same blocks (the estimator we do not use,
    checked so that the two definitions are known to agree)."""
    real, fake = _features(2, 200), _features(3, 200, shift=0.2)
    theirs, std = tf_gan_kid_and_std(real, fake, max_block_size=50)
    ours = np.mean([kvd(real[i : i + 50], fake[i : i + 50]) for i in range(0, 200, 50)])
    assert std > 0 and ours == pytest.approx(theirs, rel=1e-6)


def test_kvd_equals_mmd_gan_polynomial_mmd():
    real, fake = _features(4, 256), _features(5, 256, shift=0.1)
    theirs = mmd_gan_polynomial_mmd(fake, real)
    print(f"\nKVD ours {kvd(real, fake):.9f}, MMD-GAN polynomial_mmd {theirs:.9f}")
    assert theirs > 0 and kvd(real, fake) == pytest.approx(theirs, rel=1e-6)
    assert kvd(real, real[::-1]) == pytest.approx(mmd_gan_polynomial_mmd(real, real), abs=1e-12)


def test_subsets_equal_mmd_gan_averages():
    """Mean and std over subsets drawn as ``polynomial_mmd_averages`` draws them (one generator, real
    then generated indices per subset; numpy's std)."""
    real, fake = _features(6, 120), _features(7, 150, shift=0.2)
    mean, std, size = kvd_subsets(real, fake, subsets=20, subset_size=100, seed=9)
    rng = np.random.default_rng(9)
    values = []
    for _ in range(20):
        r = real[rng.choice(120, 100, replace=False)]
        g = fake[rng.choice(150, 100, replace=False)]
        values.append(mmd_gan_polynomial_mmd(g, r))
    assert size == 100 and mean == pytest.approx(np.mean(values), rel=1e-6) and std == pytest.approx(np.std(values))
    assert kvd_subsets(real, fake, subsets=20, subset_size=1000, seed=9)[2] == 120  # cut to the smaller side
