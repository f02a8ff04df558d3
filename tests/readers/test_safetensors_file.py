"""safetensors files (ours, and anyone's) read from their header, each range checked against the file."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.readers import open_source
from converter.writers import write_weights


def _raw(path, header: dict, data: bytes = b""):
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


def test_reads_what_our_writer_wrote(tmp_path):
    tensors = {
        "a.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        "b": np.array([1.5, -2], dtype=np.float16),
        "count": np.array(7, dtype=np.int64),
    }
    write_weights(tmp_path / "w.safetensors", tensors, {"architecture": "i3d", "config": "{}"})
    source = open_source(tmp_path / "w.safetensors")
    assert source.format == "safetensors" and source.keys() == sorted(tensors)
    assert source.metadata["architecture"] == "i3d"
    for name, array in tensors.items():
        got = source.read(name)
        assert (got.dtype, got.shape, got.tobytes()) == (array.dtype, array.shape, array.tobytes())


def test_bfloat16(tmp_path):
    import ml_dtypes

    path = _raw(
        tmp_path / "bf.safetensors", {"x": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, b"\0\x3f\0\xc0"
    )
    np.testing.assert_array_equal(open_source(path).read("x"), np.array([0.5, -2], dtype=ml_dtypes.bfloat16))


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, "lie outside the 4 data bytes"),
        ({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, "do not hold \\[3\\] x float32"),
        ({"x": {"dtype": "Q8", "shape": [1], "data_offsets": [0, 1]}}, b"\0", "bad header entry"),
        ({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, "are not counts"),
        ({"__metadata__": {"a": 1}}, b"", "__metadata__ is not a string-to-string map"),
    ],
)
def test_bad_headers_name_the_tensor(tmp_path, header, data, message):
    path = _raw(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(ConversionError, match=message) as err:
        open_source(path)
    assert str(path) in str(err.value)


def test_header_longer_than_the_file(tmp_path):
    path = tmp_path / "cut.safetensors"
    path.write_bytes(struct.pack("<Q", 1000) + b'{"x": 1}')
    with pytest.raises(ConversionError, match="header claims 1000 bytes, the file has 16"):
        open_source(path)
