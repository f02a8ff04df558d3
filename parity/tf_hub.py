"""The TF reference exported as a SavedModel and loaded back through ``tensorflow_hub``: FVD users' path.

FVD and similar tools load I3D with ``hub.load`` / ``hub.KerasLayer``; a local SavedModel folder
takes the place of the tfhub.dev handle, so the round trip runs offline.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf

from converter.tf_reference import TFI3D

SIGNATURE = "serving_default"


def export(reference: TFI3D, folder: Path) -> Path:
    """Save the reference's weights and its all-endpoints ``serve`` function as ``serving_default``."""
    exported = tf.Module()
    exported.weights = reference.weights
    exported.serve = reference.serve
    tf.saved_model.save(exported, str(folder), signatures={SIGNATURE: reference.serve})
    return folder


def logits(folder: Path, clip: np.ndarray) -> dict[str, np.ndarray]:
    """Logits of ``clip`` through ``hub.load(folder)`` and through ``hub.KerasLayer(folder)``."""
    with warnings.catch_warnings():  # tensorflow_hub 0.16 imports the deprecated pkg_resources
        warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
        import tensorflow_hub

    x = tf.constant(clip)
    loaded = tensorflow_hub.load(str(folder))
    layer = tensorflow_hub.KerasLayer(str(folder), signature=SIGNATURE, signature_outputs_as_dict=True)
    return {
        "hub.load": loaded.signatures[SIGNATURE](x)["Logits"].numpy(),
        "hub.KerasLayer": layer(x)["Logits"].numpy(),
    }


def deepmind_logits(folder: Path, clip: np.ndarray) -> np.ndarray:
    """Logits (B, 400) of ``clip`` (B, T, 224, 224, 3) through DeepMind's own TF-Hub module graph
    (signature ``default``: ``rgb_input`` → ``RGB/inception_i3d/Mean``), loaded with ``hub.load``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
        import tensorflow_hub

    module = tensorflow_hub.load(str(folder))
    return module.signatures["default"](rgb_input=tf.constant(clip))["default"].numpy()
