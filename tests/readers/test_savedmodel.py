"""TF-Hub modules (TF1 graph names) and TF2 SavedModels (object-graph names) convert, from a directory
or from a handle in the TF-Hub cache; fixtures are built here with TensorFlow, offline."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from converter.conversion import convert  # noqa: E402
from converter.engine import export, select_table  # noqa: E402
from converter.errors import ConversionError  # noqa: E402
from converter.mapping import load_table, load_tables  # noqa: E402
from converter.readers import open_source  # noqa: E402

HANDLE = "https://tfhub.dev/deepmind/i3d-kinetics-400/1"


def _tf1_hub_module(folder, tensors):
    """What hub.Module.export wrote: a TF1 SavedModel of graph variables, plus tfhub_module.pb."""
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        feeds = {}
        for name, value in tensors.items():
            initial = tf.compat.v1.placeholder(tf.float32, value.shape)
            feeds[initial] = value
            tf.compat.v1.Variable(initial, name=name, use_resource=False)
        session.run(tf.compat.v1.global_variables_initializer(), feed_dict=feeds)
        builder = tf.compat.v1.saved_model.Builder(str(folder))
        builder.add_meta_graph_and_variables(session, [])
        builder.save()
    (folder / "tfhub_module.pb").write_bytes(b"\x08\x03")  # ModuleDef { format: 3 }
    return folder


def _assert_state(plan, state):
    tensors = plan.tensors()
    assert tensors.keys() == state.keys()
    for name, tensor in tensors.items():
        np.testing.assert_array_equal(tensor.load(), state[name], err_msg=name)


def test_tf1_hub_module_from_a_directory_or_a_cached_handle(tmp_path, random_state, monkeypatch):
    """Graph names (RGB/inception_i3d/…) are kept; a handle is found as tensorflow_hub caches it,
    $TFHUB_CACHE_DIR/sha1(handle), and the weights file records the handle."""
    state = random_state(num_classes=600, seed=7)
    tensors = export(state, load_table("deepmind"), prefix="RGB/inception_i3d/")
    folder = _tf1_hub_module(tmp_path / "module", tensors)
    source = open_source(folder)
    assert source.format == "tf-savedmodel" and "RGB/inception_i3d/Conv3d_1a_7x7/conv_3d/w" in source.keys()
    assert folder / "tfhub_module.pb" in source.files()
    the_plan = select_table(source, load_tables())
    assert (the_plan.table.name, the_plan.report.prefix, the_plan.config["num_classes"]) == (
        "tfhub",
        "RGB/inception_i3d/",
        600,
    )
    _assert_state(the_plan, state)

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / hashlib.sha1(HANDLE.encode()).hexdigest()).symlink_to(folder, target_is_directory=True)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    hub_resolver = pytest.importorskip("tensorflow_hub.compressed_module_resolver")
    assert hub_resolver._module_dir(HANDLE) == str(cache / hashlib.sha1(HANDLE.encode()).hexdigest())
    result = convert(HANDLE, tmp_path / "i3d600.safetensors")
    assert result.plan.source.path.resolve() == folder.resolve()
    import converter

    assert converter.load_model(tmp_path / "i3d600.safetensors").metadata["source"] == HANDLE


def test_uncached_handle_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    with pytest.raises(ConversionError, match=f"not in the TF-Hub cache \\({tmp_path}/[0-9a-f]{{40}} absent") as err:
        convert(HANDLE, tmp_path / "x.safetensors")
    assert HANDLE in str(err.value)


def test_tf2_savedmodel_names_come_from_the_object_graph(tmp_path, random_state):
    """Object-graph keys (``weights/Conv3d_1a_7x7.Sconv_3d.Sw/.ATTRIBUTES/VARIABLE_VALUE``) read as paths."""
    state = random_state(in_channels=2, seed=8)
    tensors = export(state, load_table("deepmind"))

    class Holder(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weights = {name: tf.Variable(value) for name, value in tensors.items()}
            self.step = tf.Variable(3, dtype=tf.int64)

    tf.saved_model.save(Holder(), str(tmp_path / "saved"))
    source = open_source(tmp_path / "saved")
    assert "weights/Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w" in source.keys() and "step" in source.keys()
    with pytest.raises(ConversionError, match="1 unmatched"):  # `step` is no weight: strict by default
        select_table(source, load_tables())
    the_plan = convert(
        str(tmp_path / "saved"), tmp_path / "flow.safetensors", mapping="tfhub", allow=["unmatched"]
    ).plan
    assert the_plan.report.unmatched == ["step"] and the_plan.report.prefix == "weights/"
    _assert_state(the_plan, state)
