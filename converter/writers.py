"""Weights files: safetensors (default, written by a streaming writer) and ``.pt``.

Writes are atomic: data goes to a temporary file beside the output, which is renamed over the
target only when complete, so a failed conversion leaves nothing behind. The safetensors writer
pulls one tensor at a time from deferred sources, so converting never holds the model twice, and
does not wait for metadata still being computed (the source's sha256): its width is reserved in the
header, which is rewritten once the data is down.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converter.choices import FORMATS
from converter.errors import ConversionError
from converter.hashing import sha256_files
from converter.outputs import check_parent, make_parent

CHECKSUMS = "SHA256SUMS"
_SAFETENSORS_DTYPES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8",
    "uint64": "U64", "uint32": "U32", "uint16": "U16", "uint8": "U8", "bool": "BOOL",
}  # fmt: skip


@dataclass(frozen=True)
class Written:
    path: Path
    sha256: str | None  # None when nothing asked for it (no SHA256SUMS beside the file, digest=False)
    size: int

    def sha256_note(self, chars: int = 64) -> str:
        """``", sha256 <hex>"`` for messages, or nothing when the digest was not computed."""
        if self.sha256 is None:
            return ""
        return f", sha256 {self.sha256[:chars]}" + ("…" if chars < len(self.sha256) else "")


@dataclass(frozen=True)
class Later:
    """A metadata value of known width computed while the data is written (a hash on another thread)."""

    width: int
    value: Callable[[], str]

    def get(self) -> str:
        value = self.value()
        if len(value) != self.width or json.dumps(value) != f'"{value}"':
            raise ValueError(f"metadata value {value!r} is not {self.width} plain characters as reserved")
        return value


Metadata = Mapping[str, "str | Later"]


def as_new_file(path: Path) -> None:
    """Give a private temporary file (``mkstemp``: 0600) the permissions any new file gets, 0666 & ~umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def check_writable(path: Path, *, force: bool) -> None:
    """Refuse to overwrite before any work is done (and not only at the end)."""
    if path.exists() and not force:
        raise ConversionError(path, "output exists (use --force to overwrite)")
    check_parent(path)


def write_weights(
    path: str | os.PathLike[str],
    tensors: Mapping[str, Any],
    metadata: Metadata,
    fmt: str = "safetensors",
    *,
    force: bool = False,
    digest: bool | None = None,
) -> Written:
    """Write ``tensors`` (arrays, torch tensors, or objects with ``shape``/``dtype``/``load()``) atomically.

    The file's sha256 costs as much as the rest of a conversion here, so it is computed only when
    ``digest`` is true or, by default, when a ``SHA256SUMS`` beside the output is to be kept current.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise ConversionError(path, f"unknown output format {fmt!r} (known: {', '.join(FORMATS)})")
    check_writable(path, force=force)
    if digest is None:
        digest = (path.parent / CHECKSUMS).is_file()
    make_parent(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "safetensors":
            _write_safetensors(tmp, tensors, metadata)
        else:
            _write_pt(tmp, tensors, {key: _now(value) for key, value in metadata.items()})
        sha256 = sha256_files([tmp])() if digest else None
        os.replace(tmp, path)
    except ValueError as err:
        tmp.unlink(missing_ok=True)
        raise ConversionError(path, str(err)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    written = Written(path, sha256, path.stat().st_size)
    if sha256 is not None:
        _update_checksums(written)
    return written


def _now(value: str | Later) -> str:
    return value if isinstance(value, str) else value.get()


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


def _write_safetensors(tmp: Path, tensors: Mapping[str, Any], metadata: Metadata) -> None:
    layout: dict[str, Any] = {}
    offset = 0
    names = sorted(tensors)
    for name in names:
        value = tensors[name]
        dtype = _dtype_name(value)
        if dtype not in _SAFETENSORS_DTYPES:
            raise ValueError(f"tensor {name!r}: dtype {dtype} has no safetensors code")
        shape = [int(d) for d in value.shape]
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(_numpy_dtype(dtype)).itemsize
        layout[name] = {"dtype": _SAFETENSORS_DTYPES[dtype], "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    reserved = {key: value if isinstance(value, str) else "0" * value.width for key, value in metadata.items()}
    blob = _header(reserved, layout)
    with tmp.open("wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name in names:
            array = np.require(_numpy(tensors[name]), requirements="C")  # keeps 0-d arrays 0-d
            if list(array.shape) != layout[name]["shape"]:
                raise ValueError(f"tensor {name!r} loaded as {list(array.shape)}, declared {layout[name]['shape']}")
            f.write(memoryview(array.reshape(-1).view(np.uint8)))
            if hasattr(tensors[name], "release"):
                tensors[name].release()
        if any(isinstance(value, Later) for value in metadata.values()):
            final = _header({key: _now(value) for key, value in metadata.items()}, layout)
            f.seek(8)
            f.write(final)  # same length: every Later value checked to be as wide as reserved
        f.flush()
        os.fsync(f.fileno())


def _header(metadata: Mapping[str, str], layout: dict[str, Any]) -> bytes:
    header = {"__metadata__": dict(metadata), **layout} if metadata else layout
    blob = json.dumps(header, separators=(",", ":")).encode()
    return blob + b" " * (-len(blob) % 8)


def _numpy_dtype(name: str) -> Any:
    if name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return np.dtype(name)


def _write_pt(tmp: Path, tensors: Mapping[str, Any], metadata: Mapping[str, str]) -> None:
    import torch

    state = {
        name: torch.from_numpy(np.require(_numpy(value), requirements="C")) for name, value in sorted(tensors.items())
    }
    torch.save({"state_dict": state, "metadata": dict(metadata)}, tmp)


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
