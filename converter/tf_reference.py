"""DeepMind's I3D graph in raw TensorFlow ops: what ``convert --to tfhub`` exports (so it ships in the
package) and the reference the parity suite measures our PyTorch model against.

Written out on its own, like ``i3d.py`` (deliberately not built from ``converter.models.i3d_spec``,
so a mistake there cannot hide in both), with TF's own 'SAME' padding and batch norm, and fed by
TensorFlow's own checkpoint reader under the official variable names. Channel counts and kernel
sizes come from the checkpoint; strides and pools are written here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import numpy as np
import tensorflow as tf

from converter.errors import ConversionError

ENDPOINTS = (
    "Conv3d_1a_7x7",
    "MaxPool3d_2a_3x3",
    "Conv3d_2b_1x1",
    "Conv3d_2c_3x3",
    "MaxPool3d_3a_3x3",
    "Mixed_3b",
    "Mixed_3c",
    "MaxPool3d_4a_3x3",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "MaxPool3d_5a_2x2",
    "Mixed_5b",
    "Mixed_5c",
    "Logits",
)
MIXED = tuple(name for name in ENDPOINTS if name.startswith("Mixed_"))
BN_EPSILON = 1e-3
STEM = "Conv3d_1a_7x7/conv_3d/w"
LOGITS_W = "Logits/Conv3d_0c_1x1/conv_3d/w"
LOGITS_B = "Logits/Conv3d_0c_1x1/conv_3d/b"


def branch_units(block: str) -> tuple[str, ...]:
    """Unit3D scopes of one Mixed block, with i3d.py's ``Mixed_5b/Branch_2/Conv3d_0a_3x3`` typo."""
    second_2 = "Conv3d_0a_3x3" if block == "Mixed_5b" else "Conv3d_0b_3x3"
    return tuple(
        f"{block}/{unit}"
        for unit in (
            "Branch_0/Conv3d_0a_1x1",
            "Branch_1/Conv3d_0a_1x1",
            "Branch_1/Conv3d_0b_3x3",
            "Branch_2/Conv3d_0a_1x1",
            f"Branch_2/{second_2}",
            "Branch_3/Conv3d_0b_1x1",
        )
    )


def unit_scopes() -> tuple[str, ...]:
    """Every Unit3D scope with batch norm, in graph order."""
    stem = ("Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3")
    return stem + tuple(unit for block in MIXED for unit in branch_units(block))


def variable_names() -> tuple[str, ...]:
    """The official variable names the graph reads, without the scope."""
    stats = ("conv_3d/w", "batch_norm/beta", "batch_norm/moving_mean", "batch_norm/moving_variance")
    return (*(f"{unit}/{stat}" for unit in unit_scopes() for stat in stats), LOGITS_W, LOGITS_B)


def detect_scope(names: Iterable[str], path: str) -> str:
    """``RGB/inception_i3d/``, ``Flow/inception_i3d/`` or "" (Kinetics-600), from where the stem lives."""
    scopes = sorted(name[: -len(STEM)] for name in names if name.endswith(STEM))
    if len(scopes) != 1:
        found = ", ".join(repr(s) for s in scopes) or "none"
        raise ConversionError(path, f"expected one I3D (one '*{STEM}' variable), found scopes: {found}")
    return scopes[0]


def _max_pool(net: tf.Tensor, kernel: list[int], stride: list[int]) -> tf.Tensor:
    return tf.nn.max_pool3d(net, [1, *kernel, 1], [1, *stride, 1], padding="SAME")


class TFI3D(tf.Module):
    """I3D in TensorFlow from a checkpoint prefix; ``serve`` is the exportable all-endpoints function."""

    def __init__(self, checkpoint_prefix: str | os.PathLike[str]) -> None:
        super().__init__()
        prefix = os.fspath(checkpoint_prefix)
        try:
            reader = tf.train.load_checkpoint(prefix)
        except (ValueError, tf.errors.OpError) as err:
            raise ConversionError(prefix, f"not a readable TF checkpoint ({err})") from None
        shapes = reader.get_variable_to_shape_map()
        self.scope = detect_scope(shapes, prefix)
        self.weights: dict[str, tf.Variable] = {}
        for name in variable_names():
            if self.scope + name not in shapes:
                raise ConversionError(prefix, f"missing variable {self.scope + name}")
            value = reader.get_tensor(self.scope + name).astype(np.float32)
            if "/batch_norm/" in name:
                value = value.reshape(-1)
            self.weights[name] = tf.Variable(value, trainable=False)
        self.in_channels = int(shapes[self.scope + STEM][3])
        self.num_classes = int(shapes[self.scope + LOGITS_B][0])
        self.serve = tf.function(
            lambda x: self._forward(x, "Logits"),
            input_signature=[tf.TensorSpec([None, None, None, None, self.in_channels], tf.float32)],
        )
        self._upto = tf.function(self._forward, reduce_retracing=True)

    def endpoints(self, x_nthwc: np.ndarray, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Requested endpoints (all when ``names`` is None) of a (B, T, H, W, C) clip, as NDHWC arrays."""
        wanted = list(ENDPOINTS if names is None else names)
        unknown = sorted(set(wanted) - set(ENDPOINTS))
        if unknown:
            raise ValueError(f"unknown endpoints {unknown}; valid: {', '.join(ENDPOINTS)}")
        if not wanted:
            return {}
        final = max(wanted, key=ENDPOINTS.index)
        found = self._upto(tf.convert_to_tensor(x_nthwc, tf.float32), final)
        return {name: found[name].numpy() for name in wanted}

    def _unit(self, net: tf.Tensor, scope: str, stride: int = 1) -> tf.Tensor:
        net = tf.nn.conv3d(net, self.weights[f"{scope}/conv_3d/w"], [1, stride, stride, stride, 1], "SAME")
        net = tf.nn.batch_normalization(
            net,
            mean=self.weights[f"{scope}/batch_norm/moving_mean"],
            variance=self.weights[f"{scope}/batch_norm/moving_variance"],
            offset=self.weights[f"{scope}/batch_norm/beta"],
            scale=None,
            variance_epsilon=BN_EPSILON,
        )
        return tf.nn.relu(net)

    def _mixed(self, net: tf.Tensor, block: str) -> tf.Tensor:
        b0, b1a, b1b, b2a, b2b, b3 = branch_units(block)
        branch_0 = self._unit(net, b0)
        branch_1 = self._unit(self._unit(net, b1a), b1b)
        branch_2 = self._unit(self._unit(net, b2a), b2b)
        branch_3 = self._unit(_max_pool(net, [3, 3, 3], [1, 1, 1]), b3)
        return tf.concat([branch_0, branch_1, branch_2, branch_3], 4)

    def _logits(self, net: tf.Tensor) -> tf.Tensor:
        net = tf.nn.avg_pool3d(net, [1, 2, 7, 7, 1], [1, 1, 1, 1, 1], padding="VALID")
        net = tf.nn.conv3d(net, self.weights[LOGITS_W], [1, 1, 1, 1, 1], "SAME") + self.weights[LOGITS_B]
        net = tf.squeeze(net, [2, 3], name="SpatialSqueeze")
        return tf.reduce_mean(net, axis=1)

    def _layers(self) -> tuple[tuple[str, Callable[[tf.Tensor], tf.Tensor]], ...]:
        def mixed(block: str) -> tuple[str, Callable[[tf.Tensor], tf.Tensor]]:
            return block, lambda net: self._mixed(net, block)

        return (
            ("Conv3d_1a_7x7", lambda net: self._unit(net, "Conv3d_1a_7x7", stride=2)),
            ("MaxPool3d_2a_3x3", lambda net: _max_pool(net, [1, 3, 3], [1, 2, 2])),
            ("Conv3d_2b_1x1", lambda net: self._unit(net, "Conv3d_2b_1x1")),
            ("Conv3d_2c_3x3", lambda net: self._unit(net, "Conv3d_2c_3x3")),
            ("MaxPool3d_3a_3x3", lambda net: _max_pool(net, [1, 3, 3], [1, 2, 2])),
            mixed("Mixed_3b"),
            mixed("Mixed_3c"),
            ("MaxPool3d_4a_3x3", lambda net: _max_pool(net, [3, 3, 3], [2, 2, 2])),
            mixed("Mixed_4b"),
            mixed("Mixed_4c"),
            mixed("Mixed_4d"),
            mixed("Mixed_4e"),
            mixed("Mixed_4f"),
            ("MaxPool3d_5a_2x2", lambda net: _max_pool(net, [2, 2, 2], [2, 2, 2])),
            mixed("Mixed_5b"),
            mixed("Mixed_5c"),
            ("Logits", self._logits),
        )

    def _forward(self, net: tf.Tensor, final: str) -> dict[str, tf.Tensor]:
        """All endpoints up to and including ``final``, like i3d.py's ``final_endpoint``."""
        end_points: dict[str, tf.Tensor] = {}
        for name, layer in self._layers():
            net = layer(net)
            end_points[name] = net
            if name == final:
                break
        return end_points
