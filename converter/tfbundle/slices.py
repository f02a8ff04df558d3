"""Just enough protobuf for TF V1 checkpoints: ``SavedTensorSlices`` (``saved_tensor_slice.proto``).

A V1 checkpoint is one table (the same format as a V2 index, ``table.py``). Key ``""`` holds the
metadata: each tensor's name, shape, dtype and the slices saved of it. Every other entry holds one
slice's values as a ``TensorProto``, whose typed repeated fields (``float_val``, ``int_val``, …) TF's
``TensorSliceWriter`` fills; ``tensor_content`` is read too. Decoders raise ``WireError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from converter.tfbundle.proto import WireError, _decode_shape, _expect, _int32, _int64, read_varint, wire_fields

# TensorProto field holding the values of each DataType, and how they are encoded there:
# "<f4"-like: packed fixed-width; "varint": packed varints (cast to the dtype); "half": varints of fp16 bits.
_VALUE_FIELDS = {
    1: (5, "<f4"),  # float_val
    2: (6, "<f8"),  # double_val
    3: (7, "varint"),  # int_val: int32, uint8, int16, int8, uint16
    4: (7, "varint"),
    5: (7, "varint"),
    6: (7, "varint"),
    17: (7, "varint"),
    8: (9, "<f4"),  # scomplex_val: (re, im) pairs
    9: (10, "varint"),  # int64_val
    10: (11, "varint"),  # bool_val
    18: (12, "<f8"),  # dcomplex_val
    19: (13, "half"),  # half_val
    22: (16, "varint"),  # uint32_val
    23: (17, "varint"),  # uint64_val
}
_TENSOR_CONTENT = 4


@dataclass(frozen=True)
class SliceMeta:
    """One tensor in the metadata: its full shape, its DataType and the slices saved of it."""

    name: str
    shape: tuple[int, ...]
    dtype: int
    slices: tuple[tuple[tuple[int, int], ...], ...]  # per slice, (start, length) per dimension


@dataclass(frozen=True)
class SavedSlice:
    """One data entry: which tensor, which slice of it, and its TensorProto (decoded on demand)."""

    name: str
    extents: tuple[tuple[int, int] | None, ...]  # (start, length), None for a whole dimension
    tensor: bytes


def _string(value: int | bytes, number: int, wire: int, start: int) -> str:
    _expect(number, wire, 2, start)
    try:
        return bytes(value).decode()
    except UnicodeDecodeError:
        raise WireError(f"field {number} at byte {start} is not UTF-8") from None


def _extents(buf: bytes) -> tuple[tuple[int, int] | None, ...]:
    """TensorSliceProto: repeated Extent (int64 start = 1; oneof length = 2, absent for a whole dimension)."""
    out: list[tuple[int, int] | None] = []
    for number, wire, value, start in wire_fields(buf):
        if number != 1:
            continue
        _expect(number, wire, 2, start)
        begin, length = 0, None
        for enum, ewire, evalue, estart in wire_fields(value):
            if enum in (1, 2):
                _expect(enum, ewire, 0, estart)
                if enum == 1:
                    begin = _int64(evalue)
                else:
                    length = _int64(evalue)
        if begin < 0 or (length is not None and length < 0):
            raise WireError(f"slice extent at byte {start} is negative")
        if length is None and begin != 0:
            raise WireError(f"slice extent at byte {start}: a whole dimension starting at {begin}")
        out.append(None if length is None else (begin, length))
    return tuple(out)


def resolve(extents: tuple[tuple[int, int] | None, ...], shape: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """The slice as (start, length) per dimension of ``shape``; no extents at all means the whole tensor."""
    if not extents:
        return tuple((0, size) for size in shape)
    if len(extents) != len(shape):
        raise WireError(f"slice of rank {len(extents)} for a tensor of rank {len(shape)}")
    out = []
    for extent, size in zip(extents, shape, strict=True):
        begin, length = (0, size) if extent is None else extent
        if begin + length > size:
            raise WireError(f"slice {begin}:{begin + length} is outside a dimension of {size}")
        out.append((begin, length))
    return tuple(out)


def decode_meta(buf: bytes) -> list[SliceMeta]:
    """SavedTensorSlices.meta (field 1): SavedTensorSliceMeta's repeated SavedSliceMeta tensor = 1."""
    metas = [value for number, wire, value, start in wire_fields(buf) if number == 1 and _wire2(wire, number, start)]
    if not metas:
        raise WireError("no metadata (SavedTensorSlices.meta) in the table's first entry")
    tensors = []
    for number, wire, value, start in wire_fields(metas[-1]):
        if number != 1:
            continue
        _expect(number, wire, 2, start)
        name, shape, dtype, slices = None, (), 0, []
        for tnum, twire, tvalue, tstart in wire_fields(value):
            if tnum == 1:
                name = _string(tvalue, tnum, twire, tstart)
            elif tnum == 2:
                _expect(tnum, twire, 2, tstart)
                shape = _decode_shape(tvalue)
            elif tnum == 3:
                _expect(tnum, twire, 0, tstart)
                dtype = _int32(tvalue, tnum, tstart)
            elif tnum == 4:
                _expect(tnum, twire, 2, tstart)
                slices.append(_extents(tvalue))
        if name is None:
            raise WireError(f"tensor metadata at byte {start} has no name")
        if shape is None or any(d < 0 for d in shape):
            raise WireError(f"tensor {name!r}: shape is not fully known")
        tensors.append(SliceMeta(name, shape, dtype, tuple(resolve(s, shape) for s in slices)))
    return tensors


def _wire2(wire: int, number: int, start: int) -> bool:
    _expect(number, wire, 2, start)
    return True


def decode_data(buf: bytes) -> SavedSlice:
    """SavedTensorSlices.data (field 2): SavedSlice {name = 1; TensorSliceProto slice = 2; TensorProto data = 3}."""
    datas = [value for number, wire, value, start in wire_fields(buf) if number == 2 and _wire2(wire, number, start)]
    if not datas:
        raise WireError("entry holds no SavedSlice (SavedTensorSlices.data)")
    name, extents, tensor = None, (), b""
    for number, wire, value, start in wire_fields(datas[-1]):
        if number == 1:
            name = _string(value, number, wire, start)
        elif number == 2:
            _expect(number, wire, 2, start)
            extents = _extents(value)
        elif number == 3:
            _expect(number, wire, 2, start)
            tensor = value
    if name is None:
        raise WireError("SavedSlice has no name")
    return SavedSlice(name, extents, tensor)


def _varints(buf: bytes) -> list[int]:
    out, pos = [], 0
    while pos < len(buf):
        value, pos = read_varint(buf, pos, len(buf))
        out.append(value)
    return out


def decode_values(tensor: bytes, dtype: int, np_dtype: np.dtype, count: int) -> np.ndarray:
    """The ``count`` values of a slice's TensorProto, as ``np_dtype`` (flat)."""
    if dtype not in _VALUE_FIELDS:
        raise WireError(f"values of DataType {dtype} are not read")
    field, encoding = _VALUE_FIELDS[dtype]
    content, packed, singles = None, bytearray(), []
    for number, wire, value, start in wire_fields(tensor):
        if number == _TENSOR_CONTENT:
            _expect(number, wire, 2, start)
            content = value
        elif number == field:
            if wire == 2:
                packed += value
            elif encoding in ("varint", "half") and wire == 0:
                singles.append(value)  # an unpacked repeated field
            elif encoding in ("<f4", "<f8") and wire == (5 if encoding == "<f4" else 1):
                singles.append(value)
            else:
                raise WireError(f"field {number} at byte {start} has wire type {wire}")
    if content is not None:
        if len(content) != count * np_dtype.itemsize:
            raise WireError(f"tensor_content holds {len(content)} bytes, the slice needs {count * np_dtype.itemsize}")
        return np.frombuffer(content, dtype=np_dtype.newbyteorder("<")).astype(np_dtype)
    if encoding in ("<f4", "<f8"):
        width = 4 if encoding == "<f4" else 8
        if singles:
            packed += b"".join(int(v).to_bytes(width, "little") for v in singles)
        if len(packed) % width:
            raise WireError(f"packed values of {len(packed)} bytes are not whole {encoding} numbers")
        flat = np.frombuffer(bytes(packed), dtype=encoding)
        values = flat.view(np_dtype) if np_dtype.kind == "c" else flat.astype(np_dtype)
    else:
        ints = _varints(bytes(packed)) + singles
        if encoding == "half":
            values = np.array(ints, dtype=np.uint64).astype(np.uint16).view(np.float16)
        else:
            wide = np.array(ints, dtype=np.uint64)
            values = wide.view(np.int64).astype(np_dtype) if np_dtype.kind in "ib" else wide.astype(np_dtype)
    if values.size != count:
        raise WireError(f"{values.size} values for a slice of {count}")
    return values


def count(slice_: tuple[tuple[int, int], ...]) -> int:
    return math.prod(length for _, length in slice_)
