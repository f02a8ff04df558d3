"""Just enough protobuf wire format for the two messages a tensor_bundle index holds.

``BundleHeaderProto`` (under key ``""``) and ``BundleEntryProto`` (one per tensor), from
TensorFlow's ``tensor_bundle.proto``; decoding them by hand keeps TensorFlow and protobuf
out of the conversion path. Decoders raise ``WireError``; the reader adds file and key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_VARINT_BYTES = 10
MAX_RANK = 254  # TensorShape::MaxDimensions()

DT_STRING = 7
DT_BFLOAT16 = 14
# TensorFlow's DataType enum (types.proto), for messages.
DTYPE_NAMES = {
    1: "DT_FLOAT",
    2: "DT_DOUBLE",
    3: "DT_INT32",
    4: "DT_UINT8",
    5: "DT_INT16",
    6: "DT_INT8",
    7: "DT_STRING",
    8: "DT_COMPLEX64",
    9: "DT_INT64",
    10: "DT_BOOL",
    11: "DT_QINT8",
    12: "DT_QUINT8",
    13: "DT_QINT32",
    14: "DT_BFLOAT16",
    15: "DT_QINT16",
    16: "DT_QUINT16",
    17: "DT_UINT16",
    18: "DT_COMPLEX128",
    19: "DT_HALF",
    20: "DT_RESOURCE",
    21: "DT_VARIANT",
    22: "DT_UINT32",
    23: "DT_UINT64",
    24: "DT_FLOAT8_E5M2",
    25: "DT_FLOAT8_E4M3FN",
    29: "DT_INT4",
    30: "DT_UINT4",
}
# The fixed-size types we convert, stored little-endian and densely packed.
_NUMPY_NAMES = {
    1: "<f4",
    2: "<f8",
    3: "<i4",
    4: "u1",
    5: "<i2",
    6: "i1",
    8: "<c8",
    9: "<i8",
    10: "?",
    14: "bfloat16",
    17: "<u2",
    18: "<c16",
    19: "<f2",
    22: "<u4",
    23: "<u8",
}


class WireError(ValueError):
    """Malformed protobuf bytes; the message says what and at which byte of the value."""


def numpy_dtype(tf_dtype: int) -> np.dtype | None:
    """The numpy dtype stored for a TF DataType, None when unsupported (or bfloat16 without ml_dtypes)."""
    name = _NUMPY_NAMES.get(tf_dtype)
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            return None
        return np.dtype(ml_dtypes.bfloat16)
    return None if name is None else np.dtype(name)


def tf_dtype(dtype: np.dtype) -> int | None:
    """The TF DataType number for a numpy dtype (any byte order), None when it has none."""
    for code in _NUMPY_NAMES:
        candidate = numpy_dtype(code)
        if candidate is not None and candidate.name == dtype.name:
            return code
    return None


def dtype_label(tf_dtype: int) -> str:
    """``DT_STRING (7)`` for messages; unknown numbers are said to be unknown."""
    return f"{DTYPE_NAMES[tf_dtype]} ({tf_dtype})" if tf_dtype in DTYPE_NAMES else f"unknown dtype {tf_dtype}"


def read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Decode an unsigned varint at ``buf[pos:end]``; returns (value, position after it)."""
    value = 0
    for i in range(MAX_VARINT_BYTES):
        if pos + i >= end:
            raise WireError(f"truncated varint at byte {pos}")
        byte = buf[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            if value >= 1 << 64:
                raise WireError(f"varint at byte {pos} overflows 64 bits")
            return value, pos + i + 1
    raise WireError(f"varint at byte {pos} is longer than {MAX_VARINT_BYTES} bytes")


def encode_varint(value: int) -> bytes:
    """Unsigned varint; negative values are written as 64-bit two's complement, as protobuf does."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def wire_fields(buf: bytes) -> list[tuple[int, int, int | bytes, int]]:
    """(field number, wire type, value, byte offset) for each field; unknown fields are kept too."""
    fields = []
    pos, end = 0, len(buf)
    while pos < end:
        start = pos
        tag, pos = read_varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0 or number >= 1 << 29:
            raise WireError(f"invalid field number {number} at byte {start}")
        value: int | bytes
        if wire == 0:
            value, pos = read_varint(buf, pos, end)
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > end:
                raise WireError(f"truncated fixed{width * 8} field {number} at byte {start}")
            value, pos = int.from_bytes(buf[pos : pos + width], "little"), pos + width
        elif wire == 2:
            length, pos = read_varint(buf, pos, end)
            if length > end - pos:
                raise WireError(f"field {number} at byte {start} claims {length} bytes, {end - pos} left")
            value, pos = bytes(buf[pos : pos + length]), pos + length
        else:
            raise WireError(f"unsupported wire type {wire} for field {number} at byte {start}")
        fields.append((number, wire, value, start))
    return fields


def _expect(number: int, wire: int, want: int, start: int) -> None:
    if wire != want:
        raise WireError(f"field {number} at byte {start} has wire type {wire}, expected {want}")


def _int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _int32(value: int, number: int, start: int) -> int:
    signed = _int64(value)
    if not -(1 << 31) <= signed < 1 << 31:
        raise WireError(f"int32 field {number} at byte {start} is out of range: {signed}")
    return signed


@dataclass(frozen=True)
class Header:
    """BundleHeaderProto: how many shards, byte order, and the format version it needs."""

    num_shards: int = 0
    endianness: int = 0  # 0 = little, 1 = big
    producer: int = 0
    min_consumer: int = 0
    bad_consumers: tuple[int, ...] = ()


@dataclass(frozen=True)
class EntryProto:
    """BundleEntryProto: where one tensor's bytes are and what they hold."""

    dtype: int = 0
    shape: tuple[int, ...] | None = ()  # None: unknown rank
    shard_id: int = 0
    offset: int = 0
    size: int = 0
    crc32c: int = 0
    num_slices: int = 0


def _packed_or_single(number: int, wire: int, value: int | bytes, start: int) -> list[int]:
    """Repeated int32 values, whether packed (wire type 2) or one per field."""
    if wire == 0:
        return [_int32(value, number, start)]
    _expect(number, wire, 2, start)
    out, pos = [], 0
    while pos < len(value):
        item, pos = read_varint(value, pos, len(value))
        out.append(_int32(item, number, start))
    return out


def decode_header(buf: bytes) -> Header:
    """Parse a BundleHeaderProto (VersionDef nested as field 3)."""
    values: dict[str, object] = {}
    for number, wire, value, start in wire_fields(buf):
        if number == 1:
            _expect(number, wire, 0, start)
            values["num_shards"] = _int32(value, number, start)
        elif number == 2:
            _expect(number, wire, 0, start)
            values["endianness"] = _int32(value, number, start)
        elif number == 3:
            _expect(number, wire, 2, start)
            bad: list[int] = []
            for vnum, vwire, vvalue, vstart in wire_fields(value):
                if vnum in (1, 2):
                    _expect(vnum, vwire, 0, vstart)
                    values["producer" if vnum == 1 else "min_consumer"] = _int32(vvalue, vnum, vstart)
                elif vnum == 3:
                    bad.extend(_packed_or_single(vnum, vwire, vvalue, vstart))
            values["bad_consumers"] = tuple(bad)
    return Header(**values)


def _decode_shape(buf: bytes) -> tuple[int, ...] | None:
    """TensorShapeProto: repeated Dim dim = 2 (int64 size = 1); bool unknown_rank = 3."""
    dims: list[int] = []
    unknown_rank = False
    for number, wire, value, start in wire_fields(buf):
        if number == 2:
            _expect(number, wire, 2, start)
            if len(dims) >= MAX_RANK:
                raise WireError(f"shape has more than {MAX_RANK} dimensions")
            size = 0
            for dnum, dwire, dvalue, dstart in wire_fields(value):
                if dnum == 1:
                    _expect(dnum, dwire, 0, dstart)
                    size = _int64(dvalue)
            dims.append(size)
        elif number == 3:
            _expect(number, wire, 0, start)
            unknown_rank = bool(value)
    return None if unknown_rank else tuple(dims)


def decode_entry(buf: bytes) -> EntryProto:
    """Parse a BundleEntryProto; slices (field 7) are only counted, as we do not read them."""
    values: dict[str, object] = {}
    slices = 0
    for number, wire, value, start in wire_fields(buf):
        if number == 1:
            _expect(number, wire, 0, start)
            values["dtype"] = _int32(value, number, start)
        elif number == 2:
            _expect(number, wire, 2, start)
            values["shape"] = _decode_shape(value)
        elif number == 3:
            _expect(number, wire, 0, start)
            values["shard_id"] = _int32(value, number, start)
        elif number in (4, 5):
            _expect(number, wire, 0, start)
            values["offset" if number == 4 else "size"] = _int64(value)
        elif number == 6:
            _expect(number, wire, 5, start)
            values["crc32c"] = value
        elif number == 7:
            _expect(number, wire, 2, start)
            slices += 1
    return EntryProto(**values, num_slices=slices)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    return encode_varint(number << 3 | wire) + payload


def _message(number: int, body: bytes) -> bytes:
    return _field(number, 2, encode_varint(len(body)) + body)


def encode_header(num_shards: int) -> bytes:
    """The header TF's BundleWriter writes: little-endian, VersionDef{producer: 1}."""
    return _field(1, 0, encode_varint(num_shards)) + _message(3, _field(1, 0, encode_varint(1)))


def encode_entry(dtype: int, shape: tuple[int, ...], offset: int, size: int, crc32c: int) -> bytes:
    """A single-shard, unsliced BundleEntryProto; zero scalars are omitted as proto3 does."""
    dims = b"".join(_message(2, _field(1, 0, encode_varint(d)) if d else b"") for d in shape)
    out = _field(1, 0, encode_varint(dtype)) + _message(2, dims)
    if offset:
        out += _field(4, 0, encode_varint(offset))
    if size:
        out += _field(5, 0, encode_varint(size))
    return out + _field(6, 5, crc32c.to_bytes(4, "little"))
