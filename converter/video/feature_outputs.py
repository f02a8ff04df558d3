"""What ``features`` reports (``Outcome``, ``Summary``) and writes for a video: ``<name>.npy`` streamed
row by row and ``<name>.json``, both atomically (temporary files ``.<name>.*.tmp`` renamed when
complete), and the done check.

A video is done when both files are there and the JSON's settings are the current ones; settings
recorded before an option existed count as that option's default (so older outputs stay done).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from converter.errors import ConversionError
from converter.video.preprocess import _temp


@dataclass(frozen=True)
class Outcome:
    video: Path
    status: str  # "done", "skipped", "busy" (another process has it) or "failed"
    shape: tuple[int, ...] = ()
    frames: int = 0
    seconds: float = 0.0
    reason: str = ""
    orientation: str = ""


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def of(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    def lines(self) -> list[str]:
        done, busy = self.of("done"), self.of("busy")
        frames, spent = sum(o.frames for o in done), sum(o.seconds for o in done)
        lines = [
            f"{o.video}: {o.shape} features of {o.frames} frames in {o.seconds:.1f} s"
            + (f", frames {o.orientation}" if o.orientation else "")
            for o in done
        ]
        lines.append(
            f"{len(done)} done, {len(self.of('skipped'))} already done, {len(self.of('failed'))} failed "
            f"of {len(self.outcomes)} videos in {self.seconds:.1f} s"
            + (f" ({frames / spent:.1f} frames/s)" if spent else "")
            + (f", {len(busy)} left to other processes working on them" if busy else "")
        )
        return lines + [f"failed: {o.reason}" for o in self.of("failed")]


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
