"""Weights files: safetensors (default, written by a streaming writer) and ``.pt``.

Writes are atomic: data goes to a temporary file beside the output, which is renamed over the
target only when complete, so a failed conversion leaves nothing behind. The safetensors writer
pulls one tensor at a time from deferred sources, so converting never holds the model twice.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converter.errors import ConversionError
from converter.hashing import StreamingSha256, sha256_files

FORMATS = ("safetensors", "pt")
CHECKSUMS = "SHA256SUMS"
_SAFETENSORS_DTYPES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8",
    "uint64": "U64", "uint32": "U32", "uint16": "U16", "uint8": "U8", "bool": "BOOL",
}  # fmt: skip


@dataclass(frozen=True)
class Written:
    path: Path
    sha256: str
    size: int


def check_writable(path: Path, *, force: bool) -> None:
    """Refuse to overwrite before any work is done (and not only at the end)."""
    if path.exists() and not force:
        raise ConversionError(path, "output exists (use --force to overwrite)")
    if not path.parent.is_dir():
        raise ConversionError(path, "output folder does not exist")


def write_weights(
    path: str | os.PathLike[str],
    tensors: Mapping[str, Any],
    metadata: Mapping[str, str],
    fmt: str = "safetensors",
    *,
    force: bool = False,
) -> Written:
    """Write ``tensors`` (arrays, torch tensors, or objects with ``shape``/``dtype``/``load()``) atomically."""
    path = Path(path)
    if fmt not in FORMATS:
        raise ConversionError(path, f"unknown output format {fmt!r} (known: {', '.join(FORMATS)})")
    check_writable(path, force=force)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        digest = (
            _write_safetensors(tmp, tensors, metadata) if fmt == "safetensors" else _write_pt(tmp, tensors, metadata)
        )
        os.replace(tmp, path)
    except ValueError as err:
        tmp.unlink(missing_ok=True)
        raise ConversionError(path, str(err)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    written = Written(path, digest, path.stat().st_size)
    _update_checksums(written)
    return written


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "load"):
        return value.load()
    if hasattr(value, "detach"):  # torch.Tensor, without importing torch
        tensor = value.detach().cpu().contiguous()
        if str(tensor.dtype) == "torch.bfloat16":
            import ml_dtypes

            return tensor.view(dtype=_torch_int16()).numpy().view(ml_dtypes.bfloat16)
        return tensor.numpy()
    return np.asarray(value)


def _torch_int16() -> Any:
    import torch

    return torch.int16


def _dtype_name(value: Any) -> str:
    dtype = value.dtype
    return str(dtype).removeprefix("torch.") if not isinstance(dtype, np.dtype) else dtype.name


def _write_safetensors(tmp: Path, tensors: Mapping[str, Any], metadata: Mapping[str, str]) -> str:
    header: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    names = sorted(tensors)
    for name in names:
        value = tensors[name]
        dtype = _dtype_name(value)
        if dtype not in _SAFETENSORS_DTYPES:
            raise ValueError(f"tensor {name!r}: dtype {dtype} has no safetensors code")
        shape = [int(d) for d in value.shape]
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(_numpy_dtype(dtype)).itemsize
        header[name] = {"dtype": _SAFETENSORS_DTYPES[dtype], "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    digest = StreamingSha256()
    try:
        with tmp.open("wb") as f:
            for chunk in (struct.pack("<Q", len(blob)), blob):
                f.write(chunk)
                digest.update(chunk)
            for name in names:
                array = np.require(_numpy(tensors[name]), requirements="C")  # keeps 0-d arrays 0-d
                if list(array.shape) != header[name]["shape"]:
                    raise ValueError(f"tensor {name!r} loaded as {list(array.shape)}, declared {header[name]['shape']}")
                data = memoryview(array.reshape(-1).view(np.uint8))
                f.write(data)
                digest.update(data)
                if hasattr(tensors[name], "release"):
                    tensors[name].release()
            f.flush()
            os.fsync(f.fileno())
    finally:
        sha256 = digest.hexdigest()
    return sha256


def _numpy_dtype(name: str) -> Any:
    if name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return np.dtype(name)


def _write_pt(tmp: Path, tensors: Mapping[str, Any], metadata: Mapping[str, str]) -> str:
    import torch

    state = {
        name: torch.from_numpy(np.require(_numpy(value), requirements="C")) for name, value in sorted(tensors.items())
    }
    torch.save({"state_dict": state, "metadata": dict(metadata)}, tmp)
    return _sha256_file(tmp)


def _sha256_file(path: Path) -> str:
    return sha256_files([path])()


def _update_checksums(written: Written) -> None:
    """Keep ``SHA256SUMS`` beside the output current, where the folder keeps one."""
    sums = written.path.parent / CHECKSUMS
    if not sums.is_file():
        return
    lines = [
        line for line in sums.read_text().splitlines() if line.strip() and not line.endswith(f"  {written.path.name}")
    ]
    lines.append(f"{written.sha256}  {written.path.name}")
    tmp = sums.with_name(f".{CHECKSUMS}.{os.getpid()}.tmp")
    tmp.write_text("".join(f"{line}\n" for line in sorted(lines, key=lambda s: s.split("  ", 1)[-1])))
    os.replace(tmp, sums)
