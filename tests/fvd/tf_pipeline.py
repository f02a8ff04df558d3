"""The reference: FVD as the original computes it, in TensorFlow ops on DeepMind's own TF-Hub graph.

Steps 1–4 follow google-research ``frechet_video_distance/frechet_video_distance.py`` (``preprocess``:
``tf.compat.v1.image.resize_bilinear`` per frame, ``2. * x / 255. - 1``; ``create_id3_embedding``: the
module's ``default`` output, batches of 16). Step 5 transcribes TF-GAN's
``frechet_classifier_distance_from_activations`` (``tensorflow_gan/python/eval/classifier_metrics.py``,
non-streaming) op for op: TF-GAN 2.1 installs next to TF 2.21 but does not import there
(``tf.estimator`` is gone), so its code is restated here, ``tfp.stats.covariance`` as the centred
product it is.
"""

from __future__ import annotations

import numpy as np


def preprocess(videos, size: int = 224):
    import tensorflow as tf

    shape = list(videos.shape)
    frames = tf.reshape(videos, [-1, *shape[-3:]])
    resized = tf.compat.v1.image.resize_bilinear(frames, size=[size, size])
    out = tf.reshape(resized, [shape[0], -1, size, size, 3])
    return 2.0 * tf.cast(out, tf.float32) / 255.0 - 1


def embed(signature, videos: np.ndarray, batch: int = 16) -> np.ndarray:
    """(N, 400) logits of (N, T, H, W, 3) videos in 0..255 through the hub graph, 16 at a time."""
    return np.concatenate(
        [
            signature(rgb_input=preprocess(videos[i : i + batch]))["default"].numpy()
            for i in range(0, len(videos), batch)
        ]
    )


def _symmetric_matrix_square_root(mat, eps=1e-10):
    import tensorflow as tf

    s, u, v = tf.linalg.svd(mat)
    si = tf.compat.v1.where(tf.less(s, eps), s, tf.sqrt(s))
    return tf.matmul(tf.matmul(u, tf.linalg.tensor_diag(si)), v, transpose_b=True)


def _trace_sqrt_product(sigma, sigma_v):
    import tensorflow as tf

    sqrt_sigma = _symmetric_matrix_square_root(sigma)
    sqrt_a_sigmav_a = tf.matmul(sqrt_sigma, tf.matmul(sigma_v, sqrt_sigma))
    return tf.linalg.trace(_symmetric_matrix_square_root(sqrt_a_sigmav_a))


def _covariance(x):  # tfp.stats.covariance(x), sample_axis=0, event_axis=-1: centred xᵀx / N
    import tensorflow as tf

    n = tf.cast(tf.shape(x)[0], x.dtype)
    centred = x - tf.reduce_mean(x, axis=0, keepdims=True)
    return tf.matmul(centred, centred, transpose_a=True) / n


def frechet_classifier_distance_from_activations(activations1, activations2) -> float:
    import tensorflow as tf

    activations1 = tf.convert_to_tensor(activations1)
    activations2 = tf.convert_to_tensor(activations2)
    activations_dtype = activations1.dtype
    if activations_dtype != tf.float64:
        activations1 = tf.cast(activations1, tf.float64)
        activations2 = tf.cast(activations2, tf.float64)
    m = tf.reduce_mean(activations1, axis=0)
    m_w = tf.reduce_mean(activations2, axis=0)
    num_examples_real = tf.cast(tf.shape(activations1)[0], tf.float64)
    sigma = num_examples_real / (num_examples_real - 1) * _covariance(activations1)
    num_examples_generated = tf.cast(tf.shape(activations2)[0], tf.float64)
    sigma_w = num_examples_generated / (num_examples_generated - 1) * _covariance(activations2)
    sqrt_trace_component = _trace_sqrt_product(sigma, sigma_w)
    trace = tf.linalg.trace(sigma + sigma_w) - 2.0 * sqrt_trace_component
    mean = tf.reduce_sum(tf.math.squared_difference(m, m_w))
    fid = trace + mean
    if activations_dtype != tf.float64:
        fid = tf.cast(fid, activations_dtype)
    return float(fid.numpy())
