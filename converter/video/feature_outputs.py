"""What ``features`` writes for a video: ``<name>.npy`` streamed row by row and ``<name>.json``, both
atomically (temporary files ``.<name>.*.tmp`` renamed when complete), and the done check.

A video is done when both files are there and the JSON's settings are the current ones; settings
recorded before an option existed count as that option's default (so older outputs stay done).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from converter.errors import ConversionError
from converter.video.preprocess import _temp

# options added after outputs were first written, and the value older outputs had
LATER_DEFAULTS = {"crops": 1, "window": "clips", "preset": None}


class NpyWriter:
    """Rows of one shape appended to a temporary body file; ``close`` writes ``path`` as one (N, ...) .npy."""

    def __init__(self, path: Path, dtype: str = "float32") -> None:
        self.path, self.dtype = path, np.dtype(dtype)
        self.body = _temp(path, ".body.tmp")
        self.file = open(self.body, "wb")  # noqa: SIM115 (closed in close/abort)
        self.shape: tuple[int, ...] | None = None
        self.count = 0

    def add(self, row: np.ndarray) -> None:
        self.shape = self.shape or row.shape
        if row.shape != self.shape:
            raise ConversionError(self.path, f"row {self.count} has shape {row.shape}, the first {self.shape}")
        self.file.write(np.ascontiguousarray(row, dtype=self.dtype).tobytes())
        self.count += 1

    def close(self) -> int:
        """Write ``path`` (nothing when no row came) and remove the temporaries; the row count."""
        self.file.close()
        whole = _temp(self.path, ".tmp")
        try:
            if self.count:
                header = {
                    "descr": np.lib.format.dtype_to_descr(self.dtype),
                    "fortran_order": False,
                    "shape": (self.count, *self.shape),
                }
                with open(whole, "wb") as out, open(self.body, "rb") as data:
                    np.lib.format.write_array_header_1_0(out, header)
                    shutil.copyfileobj(data, out, 1 << 22)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(whole, self.path)
        finally:
            self.abort()
            whole.unlink(missing_ok=True)
        return self.count

    def abort(self) -> None:
        self.file.close()
        self.body.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes) -> None:
    temp = _temp(path, ".tmp")
    try:
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def is_done(out_dir: Path, name: str, recorded: dict, parts: tuple[str, ...] = ()) -> bool:
    """Whether ``name`` is done with ``recorded`` settings (``parts``: per-stream arrays wanted too).

    Raises ConversionError when it is done with other settings (pass --force) or its JSON is unreadable.
    """
    stem = out_dir / name
    npy, meta = stem.with_name(stem.name + ".npy"), stem.with_name(stem.name + ".json")
    if not (npy.is_file() and meta.is_file()):
        return False
    try:
        previous = json.loads(meta.read_text(encoding="utf-8"))["settings"]
    except (ValueError, KeyError, TypeError) as err:
        raise ConversionError(meta, f"unreadable ({err}); pass --force to redo this video") from err
    previous = {**{k: v for k, v in LATER_DEFAULTS.items() if k in recorded}, **previous}
    if previous != recorded:
        changed = ", ".join(f"{k} {previous.get(k)!r} -> {v!r}" for k, v in recorded.items() if previous.get(k) != v)
        raise ConversionError(meta, f"done with other settings ({changed}); pass --force to redo it")
    return all(stem.with_name(f"{stem.name}.{part}.npy").is_file() for part in parts)
