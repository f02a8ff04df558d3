"""Per-video FVD features on disk (``--save-features``): every metric can be recomputed without I3D.

A ``.npz`` holding ``features`` (N, 400) float32 — each video's I3D logits averaged over time — with
each row's video (``names``: a path under the folder, or ``file[i]``), its clip (``offsets``: first frame;
``frames``, ``stride``), the ``protocol`` the clips were taken under and the weights' sha256. Written
atomically (a complete file or none).
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converter.errors import ConversionError
from converter.outputs import write_bytes

FEATURES_FORMAT = "i3d-converter fvd features 1"


@dataclass(frozen=True)
class Features:
    """The features of one side's videos and what they are (see the module docstring)."""

    features: np.ndarray
    names: list[str]
    offsets: list[int]
    protocol: str
    weights_sha256: str = ""
    frames: int = 0  # 0: every frame of each video
    stride: int = 1
    skipped: int = 0  # videos too short for a clip, left out (StyleGAN-V's protocols)

    @property
    def n(self) -> int:
        return int(self.features.shape[0])

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the ``.npz`` atomically; ``load_features`` and the ``fvd`` command read it back."""
        buffer = io.BytesIO()
        np.savez(
            buffer,
            format=np.array(FEATURES_FORMAT),
            features=np.asarray(self.features, np.float32),
            names=np.array(self.names, dtype=str),
            offsets=np.asarray(self.offsets, np.int64),
            protocol=np.array(self.protocol),
            weights_sha256=np.array(self.weights_sha256),
            frames=np.int64(self.frames),
            stride=np.int64(self.stride),
            skipped=np.int64(self.skipped),
        )
        return write_bytes(Path(path), buffer.getvalue(), "features")


def npz_format(path: str | os.PathLike[str]) -> str | None:
    """The ``format`` string of an ``.npz`` this package wrote (statistics, features); None for others."""
    path = Path(path)
    if not (path.is_file() and zipfile.is_zipfile(path)):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            if "format.npy" not in archive.namelist():
                return None
        with np.load(path, allow_pickle=False) as data:
            return str(data["format"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def is_features_file(path: str | os.PathLike[str]) -> bool:
    return npz_format(path) == FEATURES_FORMAT


def load_features(path: str | os.PathLike[str]) -> Features:
    """Read a features file; ConversionError naming the file when it is not one or is damaged."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["format"]) != FEATURES_FORMAT:
                raise ConversionError(path, f"not an FVD features file (format {str(data['format'])!r})")
            found = Features(
                features=data["features"],
                names=[str(n) for n in data["names"]],
                offsets=[int(o) for o in data["offsets"]],
                protocol=str(data["protocol"]),
                weights_sha256=str(data["weights_sha256"]),
                frames=int(data["frames"]),
                stride=int(data["stride"]),
                skipped=int(data["skipped"]),
            )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise ConversionError(path, f"not a readable FVD features file: {err}") from None
    n = found.features.shape[0] if found.features.ndim == 2 else -1
    if n < 1 or len(found.names) != n or len(found.offsets) != n or not np.isfinite(found.features).all():
        counts = f"{len(found.names)} names, {len(found.offsets)} offsets"
        raise ConversionError(path, f"damaged features: shape {found.features.shape}, {counts}")
    return found
