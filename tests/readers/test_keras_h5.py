"""Keras HDF5 weights of the keras-kinetics-i3d port (Keras 3 ``.weights.h5``, legacy ``.h5`` from Keras 2
and 3) convert to a model that gives the Keras model's output."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
h5py = pytest.importorskip("h5py")
torch = pytest.importorskip("torch")

import converter  # noqa: E402
from converter.conversion import convert  # noqa: E402
from converter.engine import select_table  # noqa: E402
from converter.errors import ConversionError  # noqa: E402
from converter.mapping import load_tables  # noqa: E402
from converter.readers import open_source  # noqa: E402
from tests.readers.keras_i3d import build  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.*")
CLIP = (9, 193, 193, 3)  # the smallest clip the port's Logits accept


def randomize_keras(model, seed: int = 0) -> None:
    """Keras initialises BatchNorm to the identity and biases to zero; make every weight count."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if isinstance(layer, keras.layers.BatchNormalization):
            beta, mean, var = weights
            layer.set_weights(
                [rng.normal(0, 0.1, beta.shape), rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 2, var.shape)]
            )
        elif len(weights) == 2:  # the classifier's kernel and bias
            layer.set_weights([weights[0], rng.normal(0, 0.1, weights[1].shape)])


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    """One random Keras I3D saved both ways Keras 3 saves it, and its output on a clip."""
    folder = tmp_path_factory.mktemp("keras")
    model = build(keras, CLIP, classes=10)
    randomize_keras(model)
    model.save_weights(folder / "i3d.weights.h5")
    model.save(folder / "i3d_full.h5")  # legacy whole-model HDF5: weights under model_weights/
    clip = np.random.default_rng(1).uniform(-1, 1, (1, *CLIP)).astype(np.float32)
    return folder, clip, np.asarray(model(clip))


def test_keras3_weights_give_the_keras_output(keras_files, tmp_path):
    folder, clip, expected = keras_files
    result = convert(str(folder / "i3d.weights.h5"), tmp_path / "ours.safetensors")
    assert result.plan.table.name == "keras3_i3d" and result.plan.source.format == "keras-h5"
    model = converter.load_model(tmp_path / "ours.safetensors")
    with torch.no_grad():
        ours = model(torch.from_numpy(clip).permute(0, 4, 1, 2, 3)).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_legacy_whole_model_h5_holds_the_same_weights(keras_files):
    folder, _, _ = keras_files
    new, legacy = (
        select_table(open_source(folder / name), load_tables()) for name in ("i3d.weights.h5", "i3d_full.h5")
    )
    assert (new.table.name, legacy.table.name) == ("keras3_i3d", "keras_i3d")
    a, b = new.tensors(), legacy.tensors()
    assert a.keys() == b.keys() and all(np.array_equal(a[k].load(), b[k].load()) for k in a)


def test_keras2_save_weights_names(tmp_path):
    """tf_keras (Keras 2) ``save_weights`` to .h5, the released weights' format: ``layer/layer/kernel:0``."""
    tf_keras = pytest.importorskip("tf_keras")
    inputs = tf_keras.layers.Input((4, 8, 8, 3))
    x = tf_keras.layers.Conv3D(4, 3, padding="same", use_bias=False, name="Conv3d_1a_7x7_conv")(inputs)
    x = tf_keras.layers.BatchNormalization(axis=4, scale=False, name="Conv3d_1a_7x7_bn")(x)
    model = tf_keras.Model(inputs, tf_keras.layers.Activation("relu", name="Conv3d_1a_7x7")(x))
    model.save_weights(tmp_path / "k2.h5")
    source = open_source(tmp_path / "k2.h5")
    kernel, beta, _, var = model.get_weights()
    assert source.keys() == sorted(
        [
            "Conv3d_1a_7x7_conv/kernel",
            "Conv3d_1a_7x7_bn/beta",
            "Conv3d_1a_7x7_bn/moving_mean",
            "Conv3d_1a_7x7_bn/moving_variance",
        ]
    )
    np.testing.assert_array_equal(source.read("Conv3d_1a_7x7_conv/kernel"), kernel)
    np.testing.assert_array_equal(source.read("Conv3d_1a_7x7_bn/beta"), beta)
    assert source.shape("Conv3d_1a_7x7_bn/moving_variance") == var.shape


def test_hdf5_without_keras_weights(tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((2, 3))
    with pytest.raises(ConversionError, match="holds no Keras weights") as err:
        open_source(path)
    assert str(path) in str(err.value)


def test_text_weights_are_refused(tmp_path):
    path = tmp_path / "odd.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"dense"]
        f.create_group("dense").attrs["weight_names"] = [b"dense/kernel:0"]
        f["dense/dense/kernel:0"] = np.array([b"not", b"numbers"])
    with pytest.raises(ConversionError, match="dense/kernel: .* is not a numeric array"):
        open_source(path)
