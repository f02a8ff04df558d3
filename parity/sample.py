"""The cricket clip both frameworks are fed: DeepMind's .npy arrays when the user has them, else their GIFs.

The official sample (``v_CricketShot_g04_c01_{rgb,flow}.npy``, float32 in [-1, 1]) is not available
offline; the kinetics-i3d repository also ships the same 79 frames as palette GIFs, which become
[-1, 1] as ``x / 255 * 2 - 1`` (flow keeps R = x and G = y and drops the constant B). Either way the
identical array goes to TensorFlow and PyTorch, so parity is exact either way; only the logits'
values depend on which one was used, and the report says which.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converter.errors import ConversionError

STEM = "v_CricketShot_g04_c01"
CHANNELS = {"rgb": 3, "flow": 2}
FRAMES, SIZE = 79, 224


@dataclass(frozen=True)
class Sample:
    """The clip of each stream as (1, T, H, W, C) float32 in [-1, 1], and where it came from."""

    rgb: np.ndarray
    flow: np.ndarray
    source: str

    def stream(self, name: str) -> np.ndarray:
        return {"rgb": self.rgb, "flow": self.flow}[name]


def load_sample(kinetics_dir: Path, npy_dir: str | os.PathLike[str] | None = None) -> Sample:
    """The official .npy pair from ``npy_dir`` if given, else the GIFs from ``kinetics_dir``."""
    if npy_dir:
        paths = {stream: Path(npy_dir) / f"{STEM}_{stream}.npy" for stream in CHANNELS}
        arrays = {stream: _checked(np.load(_existing(path)), path, stream) for stream, path in paths.items()}
        return Sample(arrays["rgb"], arrays["flow"], f"official .npy arrays ({paths['rgb']}, {paths['flow']})")
    gifs = {stream: kinetics_dir / f"{STEM}_{stream}.gif" for stream in CHANNELS}
    rgb = _checked(gif_to_unit_range(gifs["rgb"]), gifs["rgb"], "rgb")
    flow = _checked(gif_to_unit_range(gifs["flow"])[..., :2], gifs["flow"], "flow")
    return Sample(rgb, flow, f"official GIFs ({gifs['rgb'].name}, {gifs['flow'].name}) as x/255*2-1")


def gif_to_unit_range(path: Path) -> np.ndarray:
    """Every frame of a GIF as RGB, (1, T, H, W, 3) float32 in [-1, 1]."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(_existing(path)) as gif:
            frames = np.stack([np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)])
    except (UnidentifiedImageError, OSError) as err:
        raise ConversionError(path, f"not a readable GIF ({err})") from None
    return (frames.astype(np.float32) / 255.0 * 2.0 - 1.0)[None]


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ConversionError(path, "no such file (the cricket sample)")
    return path


def _checked(array: np.ndarray, path: Path, stream: str) -> np.ndarray:
    """The official layout: (1, 79, 224, 224, C) float32 within [-1, 1]."""
    expected = (1, FRAMES, SIZE, SIZE, CHANNELS[stream])
    if array.shape != expected:
        raise ConversionError(path, f"{stream} sample has shape {array.shape}, expected {expected}")
    if array.dtype != np.float32:
        raise ConversionError(path, f"{stream} sample is {array.dtype}, expected float32")
    if not np.isfinite(array).all() or array.min() < -1.0 or array.max() > 1.0:
        raise ConversionError(path, f"{stream} sample is not within [-1, 1]")
    return array
