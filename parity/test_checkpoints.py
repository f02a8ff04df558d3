"""The TF checkpoints of the suite: real ones carry DeepMind's bytes, generated ones the official layout."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from converter.errors import ConversionError
from parity import checkpoints
from parity.suite import STREAMS


@pytest.mark.parametrize("stream", list(STREAMS))
def test_checkpoint_has_exactly_the_official_names_shapes_and_dtypes(suite, kinetics_dir, stream) -> None:
    """Read back by TensorFlow's own reader, against the official index file."""
    ckpt = suite.checkpoint(stream)
    reader = tf.train.load_checkpoint(str(ckpt.prefix))
    official = checkpoints.official_index(kinetics_dir, ckpt.name)
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    assert set(shapes) == set(official)
    for name, entry in official.items():
        assert tuple(shapes[name]) == entry.shape and dtypes[name].as_numpy_dtype == entry.dtype, name


def test_real_rgb_scratch_fails_on_a_changed_tensor(kinetics_dir) -> None:
    """The CRC check is what makes 'real' true: one changed value is caught, by name."""
    index = checkpoints.official_index(kinetics_dir, "rgb_scratch")
    where = kinetics_dir / "checkpoints" / "rgb_scratch" / "model.ckpt.index"
    tensors = checkpoints.to_official(checkpoints.real_rgb_scratch_state(), index, where)
    checkpoints.verify_crc32c(tensors, index, where)
    name = "RGB/inception_i3d/Mixed_4c/Branch_1/Conv3d_0b_3x3/batch_norm/beta"
    tensors[name] = tensors[name].copy()
    tensors[name][0] = np.nextafter(tensors[name][0], np.float32(np.inf))
    with pytest.raises(ConversionError, match=f"{name}: CRC32C differs"):
        checkpoints.verify_crc32c(tensors, index, where)


def test_generated_weights_are_seeded_with_measured_bn_statistics(suite, kinetics_dir) -> None:
    index = checkpoints.official_index(kinetics_dir, "flow_scratch")
    clip = np.random.default_rng(0).uniform(-1, 1, (1, 8, 64, 64, 2)).astype(np.float32)  # >1 value per BN channel
    first = checkpoints.generate_state(index, suite.template, clip, seed=5)
    again = checkpoints.generate_state(index, suite.template, clip, seed=5)
    other = checkpoints.generate_state(index, suite.template, clip, seed=6)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(
        first["Mixed_5c.Branch_0.Conv3d_0a_1x1.conv.weight"], other["Mixed_5c.Branch_0.Conv3d_0a_1x1.conv.weight"]
    )
    assert first["Conv3d_1a_7x7.conv.weight"].shape == (64, 2, 7, 7, 7)
    variance = first["Conv3d_1a_7x7.bn.running_var"]
    assert (variance > 0).all() and not np.allclose(variance, 1.0), "stats were not measured"


def test_user_checkpoint_is_found_in_the_fetch_layout(tmp_path) -> None:
    assert checkpoints.user_checkpoint(None, "flow_scratch") is None
    assert checkpoints.user_checkpoint(tmp_path, "flow_scratch") is None
    (tmp_path / "flow_scratch").mkdir()
    (tmp_path / "flow_scratch" / "model.ckpt.index").write_bytes(b"")
    found = checkpoints.user_checkpoint(tmp_path, "flow_scratch")
    assert found is not None and found.origin == "user" and found.prefix == tmp_path / "flow_scratch" / "model.ckpt"
