"""safetensors files (this toolkit's own weights, and anyone's), read from the header alone until data is asked.

The format is a little-endian u64 header length, a JSON header naming each tensor's dtype, shape and
byte range, then the data; parsing it here (rather than through a framework) keeps the checks, and
the errors, ours: every range must lie inside the file and match its shape.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from converter.errors import ConversionError

_MAX_HEADER = 100 << 20  # safetensors' own limit on the JSON header
_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
}  # fmt: skip


def sniff(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(9)
    except OSError:
        return False
    return len(head) == 9 and int.from_bytes(head[:8], "little") < _MAX_HEADER and head[8:9] == b"{"


def _dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


class SafetensorsFile:
    """Names, shapes and dtypes from the header; each tensor read on its own from its byte range."""

    format = "safetensors"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.metadata: dict[str, str] = {}
        self._entries: dict[str, tuple[np.dtype, tuple[int, ...], int, int]] = {}
        try:
            size = path.stat().st_size
            with path.open("rb") as f:
                length = int.from_bytes(f.read(8), "little")
                if length > min(_MAX_HEADER, size - 8):
                    raise ConversionError(path, f"header claims {length} bytes, the file has {size}")
                header = json.loads(f.read(length))
        except OSError as err:
            raise ConversionError(path, f"cannot read: {err.strerror or err}") from None
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            raise ConversionError(path, f"header is not JSON: {err}") from None
        if not isinstance(header, dict):
            raise ConversionError(path, "header is not a JSON object")
        self._data_start = 8 + length
        for name, spec in header.items():
            if name == "__metadata__":
                if not isinstance(spec, dict) or not all(isinstance(v, str) for v in spec.values()):
                    raise ConversionError(path, "__metadata__ is not a string-to-string map")
                self.metadata = spec
            else:
                self._entries[name] = self._entry(name, spec, size - self._data_start)

    def _entry(self, name: str, spec: Any, data_size: int) -> tuple[np.dtype, tuple[int, ...], int, int]:
        where = f"tensor {name!r}"
        try:
            dtype = _dtype(_DTYPES[spec["dtype"]])
            shape = tuple(spec["shape"])
            begin, end = spec["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ConversionError(self.path, f"{where}: bad header entry {str(spec)[:120]}") from None
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in (*shape, begin, end)):
            raise ConversionError(self.path, f"{where}: shape {list(shape)} or offsets {[begin, end]} are not counts")
        if not begin <= end <= data_size:
            raise ConversionError(self.path, f"{where}: bytes {begin}..{end} lie outside the {data_size} data bytes")
        if math.prod(shape) * dtype.itemsize != end - begin:
            raise ConversionError(self.path, f"{where}: {end - begin} bytes do not hold {list(shape)} x {dtype}")
        return dtype, shape, begin, end

    def files(self) -> list[Path]:
        return [self.path]

    def keys(self) -> list[str]:
        return sorted(self._entries)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._entries[key][1]

    def dtype(self, key: str) -> np.dtype:
        return self._entries[key][0]

    def read(self, key: str) -> np.ndarray:
        dtype, shape, begin, end = self._entries[key]
        try:
            with self.path.open("rb") as f:
                f.seek(self._data_start + begin)
                data = f.read(end - begin)
        except OSError as err:
            raise ConversionError(self.path, f"cannot read tensor {key!r}: {err.strerror or err}") from None
        if len(data) != end - begin:
            raise ConversionError(self.path, f"tensor {key!r}: file ends inside its bytes (truncated?)")
        return np.frombuffer(data, dtype=dtype.newbyteorder("<")).astype(dtype, copy=True).reshape(shape)


def open(path: Path) -> SafetensorsFile:  # noqa: A001 - the reader interface's name
    return SafetensorsFile(path)
