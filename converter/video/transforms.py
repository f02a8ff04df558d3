"""The I3D RGB recipe: short side to 256 (bilinear), centre crop 224, values x / 127.5 - 1.

Resizing is done on the uint8 frame (as when the clips were re-encoded at 256), once, and both
streams crop the same centre window. Random crops are a training-time transform, not done here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

import cv2
import numpy as np

RESIZE = 256
CROP = 224
# I3D's logits average-pool 2 time steps of Mixed_5c, which has ceil(T / 8) of them: T >= 9.
MIN_FRAMES = 9

_T = TypeVar("_T")


def resize_short_side(frame: np.ndarray, size: int = RESIZE) -> np.ndarray:
    """Bilinear resize (OpenCV, half-pixel centres, no antialiasing) so the short side is ``size``."""
    height, width = frame.shape[:2]
    scale = size / min(height, width)
    target = (max(size, round(width * scale)), max(size, round(height * scale)))
    if target == (width, height):
        return frame
    return cv2.resize(frame, target, interpolation=cv2.INTER_LINEAR)


def center_crop(array: np.ndarray, size: int = CROP) -> np.ndarray:
    """The centred ``size`` x ``size`` window of an (H, W, ...) array (top/left rounded down)."""
    height, width = array.shape[:2]
    top, left = (height - size) // 2, (width - size) // 2
    return array[top : top + size, left : left + size]


def to_unit_range(frame: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] to float32 [-1, 1] as I3D expects: x / 127.5 - 1."""
    return frame.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def rgb_frame(frame: np.ndarray) -> np.ndarray:
    """One decoded uint8 RGB frame of any size to the (224, 224, 3) float32 I3D input."""
    return to_unit_range(center_crop(resize_short_side(frame)))


def iter_rgb(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Stream of ``rgb_frame`` outputs, one per input frame."""
    return map(rgb_frame, frames)


def rgb_clip(frames: Iterable[np.ndarray]) -> np.ndarray:
    """float32 (T, 224, 224, 3) for T uint8 RGB frames (no padding: see ``loop_pad``)."""
    out = list(iter_rgb(frames))
    return np.stack(out) if out else np.empty((0, CROP, CROP, 3), np.float32)


def loop_pad(frames: Iterable[_T], min_frames: int = MIN_FRAMES) -> Iterator[_T]:
    """Yield every item; a clip shorter than ``min_frames`` is replayed from its start until long enough.

    Only the first ``min_frames`` items are kept, so long clips still stream. An empty clip stays empty.
    """
    head: list[_T] = []
    count = 0
    for item in frames:
        if count < min_frames:
            head.append(item)
        count += 1
        yield item
    for index in range(count, min_frames if count else 0):
        yield head[index % count]
