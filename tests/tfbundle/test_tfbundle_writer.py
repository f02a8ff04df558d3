"""Our writer: TensorFlow loads what it writes, CRCs match TF's, and failures leave no files."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from converter.errors import ConversionError
from converter.tfbundle import BundleReader, read_index, write_bundle
from converter.tfbundle.proto import encode_varint
from converter.tfbundle.table import build_table, read_blocks, read_table


def test_tensorflow_loads_what_we_write(tmp_path, tf, tensors):
    prefix = tmp_path / "ours"
    write_bundle(prefix, tensors)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours.data-00000-of-00001", "ours.index"]
    theirs = tf.train.load_checkpoint(str(prefix))
    assert theirs.get_variable_to_dtype_map().keys() == tensors.keys()
    for name, value in tensors.items():
        loaded = theirs.get_tensor(name)
        assert loaded.dtype == value.dtype
        assert loaded.shape == value.shape
        assert loaded.tobytes() == value.tobytes()


def test_crcs_and_bytes_equal_tensorflow(tmp_path, save_v2, tensors):
    save_v2(tmp_path / "theirs", tensors)
    write_bundle(tmp_path / "ours", tensors)
    ours, theirs = read_index(tmp_path / "ours"), read_index(tmp_path / "theirs")
    assert ours.keys() == theirs.keys()
    for name in tensors:
        assert (ours[name].crc32c, ours[name].size, ours[name].shape) == (
            theirs[name].crc32c,
            theirs[name].size,
            theirs[name].shape,
        )
    with BundleReader(tmp_path / "ours") as mine, BundleReader(tmp_path / "theirs") as tfs:
        for name in tensors:
            assert mine.read_bytes(name) == tfs.read_bytes(name)


def test_big_endian_input_is_stored_little_endian(tmp_path):
    value = np.arange(5, dtype=">i4")
    write_bundle(tmp_path / "ckpt", {"x": value})
    with BundleReader(tmp_path / "ckpt") as reader:
        assert reader.read_bytes("x") == value.astype("<i4").tobytes()
        assert np.array_equal(reader.read("x"), value)


@settings(max_examples=40, deadline=None)
@given(
    arrays=st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda name: not name.startswith("\0")),
        hnp.arrays(
            st.sampled_from(["<f2", "<f4", ">f8", "i1", "<i2", "<u4", "<u8", "?", "<c8", ">c16"]),
            hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
        ),
        max_size=6,
    )
)
def test_round_trip_without_tensorflow(tmp_path_factory, arrays):
    prefix = tmp_path_factory.mktemp("roundtrip") / "ckpt"
    write_bundle(prefix, arrays)
    with BundleReader(prefix) as reader:
        assert reader.keys() == sorted(arrays)
        for name, value in arrays.items():
            loaded = reader.read(name)
            assert loaded.dtype == value.dtype.newbyteorder("<")
            assert loaded.shape == value.shape
            assert loaded.tobytes() == value.astype(loaded.dtype).tobytes()


def test_table_round_trip_over_many_blocks(tmp_path):
    items = [(f"key/{i:04d}".encode() * (1 + i % 3), encode_varint(i) * (i % 7)) for i in range(600)]
    items.sort()
    path = tmp_path / "table"
    path.write_bytes(build_table(items, block_size=512))
    assert len(read_blocks(path)) > 10
    assert [(key, value) for key, value, _ in read_table(path)] == items


def test_unsupported_dtype_writes_nothing(tmp_path):
    with pytest.raises(ConversionError, match=r"'names'.*dtype") as err:
        write_bundle(tmp_path / "ckpt", {"ok": np.zeros(2), "names": np.array(["a", "b"])})
    assert str(tmp_path / "ckpt") in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_failed_rename_leaves_nothing(tmp_path, monkeypatch):
    real_replace = os.replace

    def flaky_replace(src, dst):
        if str(dst).endswith(".index"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(ConversionError, match="No space left") as err:
        write_bundle(tmp_path / "ckpt", {"x": np.ones(3, np.float32)})
    assert str(tmp_path / "ckpt") in str(err.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["", "\0slice", 3])
def test_reserved_names_are_refused(tmp_path, name):
    with pytest.raises(ConversionError, match="not usable as a checkpoint key"):
        write_bundle(tmp_path / "ckpt", {name: np.ones(1)})
    assert list(tmp_path.iterdir()) == []


def test_a_missing_output_folder_is_created_and_a_file_in_the_way_refused(tmp_path):
    write_bundle(tmp_path / "missing" / "ckpt", {"x": np.ones(1)})
    assert sorted(p.name for p in (tmp_path / "missing").iterdir()) == ["ckpt.data-00000-of-00001", "ckpt.index"]
    (tmp_path / "file").write_text("")
    with pytest.raises(ConversionError, match="cannot create the output folder: .*file is a file"):
        write_bundle(tmp_path / "file" / "ckpt", {"x": np.ones(1)})
