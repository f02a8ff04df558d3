"""Our reader against TensorFlow's own checkpoints and ``tf.train.load_checkpoint``."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.tfbundle import OBJECT_GRAPH_KEY, BundleReader, read_index, write_bundle
from converter.tfbundle.table import read_blocks


def assert_same(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.dtype == theirs.dtype
    assert ours.shape == theirs.shape
    assert ours.tobytes() == theirs.tobytes()


def test_every_dtype_matches_tensorflow(tmp_path, tf, save_v2, tensors):
    prefix = save_v2(tmp_path / "ckpt", tensors)
    theirs = tf.train.load_checkpoint(str(prefix))
    with BundleReader(prefix) as reader:
        assert reader.keys() == sorted(tensors)
        assert reader.path == prefix
        for name, value in tensors.items():
            array = reader.read(name)
            assert_same(array, theirs.get_tensor(name))
            assert_same(array, value)
            assert reader.read_bytes(name) == value.tobytes()
            assert reader.entries[name].dtype == value.dtype


def test_index_path_and_prefix_give_the_same_entries(tmp_path, save_v2, tensors):
    prefix = save_v2(tmp_path / "ckpt", tensors)
    by_prefix = read_index(prefix)
    assert read_index(f"{prefix}.index") == by_prefix
    with BundleReader(f"{prefix}.index") as reader:
        assert reader.path == prefix
        assert reader.entries == by_prefix
    entry = by_prefix["float32"]
    assert (entry.shape, entry.tf_dtype, entry.shard_id, entry.partitioned) == ((3, 4, 5), 1, 0, False)
    assert entry.size == 3 * 4 * 5 * 4


def test_read_index_needs_no_data_files(tmp_path, save_v2, tensors):
    prefix = save_v2(tmp_path / "ckpt", tensors)
    (tmp_path / "ckpt.data-00000-of-00001").unlink()
    assert sorted(read_index(prefix)) == sorted(tensors)


def test_multi_shard_checkpoint(tmp_path, tf, save_v2, tensors):
    names = sorted(tensors)
    first = save_v2(tmp_path / "a", {n: tensors[n] for n in names[::2]})
    second = save_v2(tmp_path / "b", {n: tensors[n] for n in names[1::2]})
    merged = tmp_path / "merged"
    tf.raw_ops.MergeV2Checkpoints(
        checkpoint_prefixes=[str(first), str(second)], destination_prefix=str(merged), delete_old_dirs=False
    )
    assert (tmp_path / "merged.data-00001-of-00002").is_file()
    theirs = tf.train.load_checkpoint(str(merged))
    with BundleReader(merged) as reader:
        assert {entry.shard_id for entry in reader.entries.values()} == {0, 1}
        assert reader.keys() == names
        for name in names:
            assert_same(reader.read(name), theirs.get_tensor(name))


def test_index_with_several_blocks(tmp_path, tf, save_v2):
    # TF 2.x tables use 256 KiB blocks; ~150-byte keys that differ early need ~1500 entries per block.
    tensors = {f"layer_{i:05d}/" + "w" * 150: np.array([i, -i], dtype=np.int32) for i in range(4000)}
    prefix = save_v2(tmp_path / "big", tensors)
    assert len(read_blocks(tmp_path / "big.index")) >= 3
    theirs = tf.train.load_checkpoint(str(prefix))
    with BundleReader(prefix) as reader:
        assert reader.keys() == sorted(tensors)
        for name in list(tensors)[::97]:
            assert_same(reader.read(name), theirs.get_tensor(name))
        assert all(np.array_equal(reader.read(name), value) for name, value in tensors.items())


def test_tf2_object_graph(tmp_path, tf):
    kernel = np.arange(6, dtype=np.float32).reshape(2, 3)
    checkpoint = tf.train.Checkpoint(layer=tf.Module(), kernel=tf.Variable(kernel))
    prefix = checkpoint.write(str(tmp_path / "tf2"))
    theirs = tf.train.load_checkpoint(prefix)
    with BundleReader(prefix) as reader:
        assert OBJECT_GRAPH_KEY in reader.entries
        assert reader.keys() == ["kernel/.ATTRIBUTES/VARIABLE_VALUE"]
        assert_same(reader.read("kernel/.ATTRIBUTES/VARIABLE_VALUE"), kernel)
        graph = reader.read_bytes(OBJECT_GRAPH_KEY)
    assert graph == theirs.get_tensor(OBJECT_GRAPH_KEY)
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    parsed = trackable_object_graph_pb2.TrackableObjectGraph.FromString(graph)
    assert {child.local_name for child in parsed.nodes[0].children} == {"layer", "kernel"}


def test_string_tensors(tmp_path, save_v2):
    prefix = save_v2(tmp_path / "strings", {"one": np.array(b"hello"), "many": np.array([b"a", b"bc"])})
    with BundleReader(prefix) as reader:
        assert reader.entries["one"].dtype is None
        assert reader.read_bytes("one") == b"hello"
        for read, name in ((reader.read, "one"), (reader.read, "many"), (reader.read_bytes, "many")):
            with pytest.raises(ConversionError, match=rf"'{name}'.*DT_STRING.*not supported"):
                read(name)


def test_partitioned_tensor_is_refused_by_name(tmp_path, tf):
    prefix = tmp_path / "sliced"
    halves = [np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32)]
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=["part", "part", "whole"],
        shape_and_slices=["4 2 0,2:-", "4 2 2,2:-", ""],
        tensors=[tf.constant(halves[0]), tf.constant(halves[1]), tf.constant(np.float32(7))],
    )
    with BundleReader(prefix) as reader:
        assert sorted(reader.entries) == ["part", "whole"]
        assert reader.entries["part"].partitioned
        assert reader.entries["part"].shape == (4, 2)
        assert reader.read("whole") == np.float32(7)
        with pytest.raises(ConversionError, match=r"'part'.*partitioned.*not supported"):
            reader.read("part")


def test_unknown_tensor_name(tmp_path, save_v2, tensors):
    prefix = save_v2(tmp_path / "ckpt", tensors)
    with BundleReader(prefix) as reader, pytest.raises(ConversionError, match="no tensor 'nope'") as err:
        reader.read("nope")
    assert str(prefix) in str(err.value)


def test_bfloat16_without_ml_dtypes_is_a_clear_error(tmp_path, tensors, monkeypatch):
    write_bundle(tmp_path / "ckpt", {"bf16": tensors["bfloat16"], "f32": tensors["float32"]})
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # makes `import ml_dtypes` fail
    with BundleReader(tmp_path / "ckpt") as reader:
        assert reader.entries["bf16"].dtype is None
        assert_same(reader.read("f32"), tensors["float32"])
        with pytest.raises(ConversionError, match="'bf16': DT_BFLOAT16 needs the ml_dtypes package"):
            reader.read("bf16")


def test_a_snappy_compressed_index_reads_like_the_uncompressed_one(tmp_path, tensors):
    """TF1-era indexes snappy-compress their blocks: several compressed blocks read to the same tensors."""
    from tests.tfbundle.snappy_tables import index_block_type, recompress

    write_bundle(tmp_path / "model.ckpt", tensors)
    plain = {name: BundleReader(tmp_path / "model.ckpt").read(name) for name in tensors}
    assert recompress(tmp_path / "model.ckpt.index", block_size=64) == len(tensors) + 1  # the header too
    assert index_block_type(tmp_path / "model.ckpt.index") == 1 and len(read_blocks(tmp_path / "model.ckpt.index")) > 3
    with BundleReader(tmp_path / "model.ckpt") as reader:
        for name, want in plain.items():
            assert_same(reader.read(name), want)
