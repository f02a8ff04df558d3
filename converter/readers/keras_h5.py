"""Keras HDF5 weights (h5py): the legacy layout of Keras 1/2 (and Keras 3's ``.h5``), and Keras 3's ``.weights.h5``.

Legacy files list ``layer_names`` (at the root, or under ``model_weights`` for a whole saved model) and
each layer its ``weight_names``; a tensor reads as ``{layer}/{weight}`` (``Conv3d_1a_7x7_bn/beta``, the
``:0`` suffix and repeated layer scope dropped). Keras 3 stores each layer's variables by position under
``…/vars/0``, the layer's name in an attribute; those read as ``{layer}/vars/{i}``.

HDF5 is a large C library, and a damaged file can make it allocate gigabytes or spin for seconds (the
fuzz tests found a 15 kB file that asks for 3.6 GB), so the file is parsed in a child interpreter under
a memory cap and a time limit; only a JSON header and raw array bytes come back, and every failure,
the child's crash included, becomes a ``ConversionError``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from converter.errors import ConversionError
from converter.readers.in_memory import InMemoryArrays

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_NUMERIC = "biuf"  # bool, int, uint, float
_MAX_EXPANSION = 1000  # how much larger than the file a compressed dataset may unpack to
MEMORY_BUDGET = 1 << 30  # bytes the parser may allocate beyond the data itself
TIME_LIMIT_S = 60
# What the sandboxed interpreter runs (the fuzz tests tell this launch from any other command).
CHILD_CODE = "import sys; from converter.readers.keras_h5 import _child; sys.stdout.buffer.write(_child(sys.argv[1]))"


def sniff(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(len(_SIGNATURE)) == _SIGNATURE
    except OSError:
        return False


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _short(layer: str, weight: str) -> str:
    """``Conv3d_1a_7x7_bn/beta:0`` under layer ``Conv3d_1a_7x7_bn`` -> ``beta``."""
    weight = re.sub(r":\d+$", "", weight)
    return weight[len(layer) + 1 :] if weight.startswith(f"{layer}/") else weight


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}"[:300]


def _weights(path: Path) -> dict[str, np.ndarray]:
    """Every Keras weight in the file, by name (runs in the child)."""
    import h5py

    size = path.stat().st_size
    out: dict[str, np.ndarray] = {}

    def add(key: str, dataset: Any) -> None:
        if not isinstance(dataset, h5py.Dataset):
            raise ConversionError(path, f"{key}: {dataset.name} is not a dataset")
        if key in out:
            raise ConversionError(path, f"{key}: two weights read as this name ({dataset.name})")
        dtype, shape = dataset.dtype, dataset.shape
        if shape is None or dtype.kind not in _NUMERIC:
            raise ConversionError(path, f"{key}: {dataset.name} is not a numeric array ({dtype}, shape {shape})")
        if dtype.itemsize * math.prod(shape) > size * (_MAX_EXPANSION if dataset.compression else 1):
            raise ConversionError(path, f"{key}: {dataset.name} claims {shape} x {dtype}, more than the file")
        out[key] = np.asarray(dataset[()], dtype=dtype).reshape(shape)

    def keras3(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group) and name.rsplit("/", 1)[-1] == "vars":
            layer = _text(obj.attrs.get("name", name.rsplit("/", 1)[0]))
            for index, dataset in obj.items():
                add(f"{layer}/vars/{index}", dataset)

    with h5py.File(path, "r") as f:
        root = f.get("model_weights", f)
        if "layer_names" in root.attrs:
            for layer in map(_text, np.atleast_1d(root.attrs["layer_names"])):
                group = root[layer]
                for weight in map(_text, np.atleast_1d(group.attrs.get("weight_names", []))):
                    add(f"{layer}/{_short(layer, weight)}", group[weight])
        else:
            f.visititems(keras3)
    return out


def _child(path: str) -> bytes:
    """Parse under a memory cap: an 8-byte header length, a JSON header (or error), then the raw arrays."""
    try:
        import resource

        in_use = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
        limit = in_use + MEMORY_BUDGET + 2 * Path(path).stat().st_size
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):
        pass  # no /proc or no RLIMIT_AS here: the time limit still holds
    try:
        arrays = _weights(Path(path))
        header = {"weights": [[key, a.dtype.str, list(a.shape)] for key, a in arrays.items()]}
    except ConversionError as err:
        header, arrays = {"error": err.reason}, {}
    except MemoryError:
        header, arrays = {"error": f"parsing needs more than {MEMORY_BUDGET >> 20} MiB (damaged?)"}, {}
    except Exception as err:  # h5py raises OSError, KeyError, ValueError, RuntimeError, … on damaged files
        header, arrays = {"error": f"not a readable Keras HDF5 file: {_reason(err)}"}, {}
    blob = json.dumps(header).encode()
    return b"".join(
        [len(blob).to_bytes(8, "little"), blob, *(np.ascontiguousarray(a).tobytes() for a in arrays.values())]
    )


def _load(path: Path) -> dict[str, np.ndarray]:
    """Run ``_child`` in a fresh interpreter (no fork of a threaded parent, no re-import of its __main__)
    and check what comes back: numeric dtypes, byte counts that match the shapes."""
    if importlib.util.find_spec("h5py") is None:
        raise ConversionError(path, "Keras HDF5 needs h5py: pip install 'i3d-converter[keras]'")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD_CODE, str(path)], capture_output=True, env=env, timeout=TIME_LIMIT_S
        )
    except subprocess.TimeoutExpired:
        raise ConversionError(path, f"HDF5 parsing took more than {TIME_LIMIT_S} s (damaged?)") from None
    out = done.stdout
    length = int.from_bytes(out[:8], "little")
    try:
        if done.returncode != 0 or len(out) < 8 + length:
            raise ValueError(f"exit code {done.returncode}")
        header = json.loads(out[8 : 8 + length])
        if "error" in header:
            raise ConversionError(path, header["error"])
        arrays, at = {}, 8 + length
        for key, dtype, shape in header["weights"]:
            dtype = np.dtype(dtype)
            size = dtype.itemsize * math.prod(shape)
            if dtype.kind not in _NUMERIC or at + size > len(out):
                raise ValueError(f"{key}: {dtype} {shape} does not fit what came back")
            arrays[key] = np.frombuffer(out[at : at + size], dtype=dtype).reshape(shape).copy()
            at += size
        return arrays
    except (ValueError, TypeError, KeyError) as err:
        raise ConversionError(path, f"HDF5 parser failed ({err}; damaged file?)") from None


class KerasH5(InMemoryArrays):
    """Every weight of the file, parsed in a sandboxed child and held in memory."""

    format = "keras-h5"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._arrays = _load(path)
        if not self._arrays:
            raise ConversionError(path, "HDF5 file holds no Keras weights (no layer_names, no layers/*/vars)")


def open(path: Path) -> KerasH5:  # noqa: A001 - the reader interface's name
    return KerasH5(path)
