"""Our hand-written protobuf wire format against TensorFlow's generated message classes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from converter.tfbundle.proto import (
    WireError,
    decode_entry,
    decode_header,
    encode_entry,
    encode_header,
    encode_varint,
    numpy_dtype,
    read_varint,
    tf_dtype,
)


@given(st.integers(0, 2**64 - 1))
def test_varint_round_trip(value):
    encoded = encode_varint(value)
    assert len(encoded) == max(1, (value.bit_length() + 6) // 7)
    assert read_varint(encoded, 0, len(encoded)) == (value, len(encoded))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "truncated"),
        (b"\x80\x80", "truncated"),
        (b"\xff" * 11, "longer than 10"),
        (b"\xff" * 9 + b"\x02", "overflows"),
    ],
)
def test_bad_varints(data, match):
    with pytest.raises(WireError, match=match):
        read_varint(data, 0, len(data))


def test_entry_matches_tensorflow_proto():
    pb = pytest.importorskip("tensorflow.core.protobuf.tensor_bundle_pb2")
    theirs = pb.BundleEntryProto(dtype=19, shard_id=3, offset=2**40, size=12, crc32c=0xDEADBEEF)
    for size in (3, 0, 2):
        theirs.shape.dim.add(size=size)
    theirs.slices.add().extent.add(start=1, length=2)
    theirs.slices.add()
    entry = decode_entry(theirs.SerializeToString())
    assert (entry.dtype, entry.shape, entry.shard_id, entry.offset, entry.size) == (
        19,
        (3, 0, 2),
        3,
        2**40,
        12,
    )
    assert (entry.crc32c, entry.num_slices) == (0xDEADBEEF, 2)

    mine = pb.BundleEntryProto.FromString(encode_entry(14, (5, 0, 1), 7, 20, 0x12345678))
    assert (mine.dtype, [d.size for d in mine.shape.dim], mine.offset, mine.size) == (14, [5, 0, 1], 7, 20)
    assert (mine.crc32c, mine.shard_id, len(mine.slices)) == (0x12345678, 0, 0)
    assert mine.SerializeToString() == encode_entry(14, (5, 0, 1), 7, 20, 0x12345678)


def test_header_matches_tensorflow_proto():
    pb = pytest.importorskip("tensorflow.core.protobuf.tensor_bundle_pb2")
    theirs = pb.BundleHeaderProto(num_shards=4, endianness=pb.BundleHeaderProto.BIG)
    theirs.version.producer = 1
    theirs.version.min_consumer = 2
    theirs.version.bad_consumers.extend([3, 9])
    header = decode_header(theirs.SerializeToString())
    assert (header.num_shards, header.endianness, header.producer) == (4, 1, 1)
    assert (header.min_consumer, header.bad_consumers) == (2, (3, 9))
    mine = pb.BundleHeaderProto.FromString(encode_header(1))
    assert (mine.num_shards, mine.endianness, mine.version.producer, mine.version.min_consumer) == (
        1,
        0,
        1,
        0,
    )


def test_negative_int64_is_sign_extended():
    entry = decode_entry(b"\x20" + encode_varint(-5))
    assert entry.offset == -5


def test_dtype_tables_agree():
    for code in (1, 2, 3, 4, 5, 6, 8, 9, 10, 14, 17, 18, 19, 22, 23):
        dtype = numpy_dtype(code)
        assert dtype is not None
        assert tf_dtype(dtype) == code
        assert tf_dtype(dtype.newbyteorder(">")) == code
    assert numpy_dtype(7) is None
    assert numpy_dtype(21) is None
    assert numpy_dtype(0) is None
