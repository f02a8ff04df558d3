"""Frames turned upright: a container's display matrix (phone videos) and a still's EXIF orientation.

Phones store a portrait video landscape and record how to show it in a display matrix (FFmpeg's
``AV_FRAME_DATA_DISPLAYMATRIX``, the MP4/MOV ``tkhd`` matrix); cameras do the same for stills with
the EXIF Orientation tag (1..8). Players apply both, so the upright picture is what a person saw
and what I3D must see, before the short-side resize and centre crop pick their axis.

The display matrix maps a stored pixel (x, y) (y down) to its displayed position
(x', y') = (a x + c y, b x + d y), with a, b, c, d its entries 0, 1, 3 and 4 in 16.16 fixed point
(libavutil/display.h). Right angles and mirrors make a, b, c, d a signed permutation, applied here
exactly with transposes and flips (no resampling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from converter.errors import ConversionError

# EXIF orientation → (transpose first, then flip rows, then flip columns), from the stored image.
_EXIF = {
    1: (False, False, False),
    2: (False, False, True),  # mirrored left-right
    3: (False, True, True),  # rotated 180
    4: (False, True, False),  # mirrored top-bottom
    5: (True, False, False),  # transposed
    6: (True, False, True),  # rotated 90 clockwise
    7: (True, True, True),  # transverse
    8: (True, True, False),  # rotated 90 counter-clockwise
}
_NAMES = {
    (False, False, True): "mirrored left-right",
    (False, True, True): "rotated 180°",
    (False, True, False): "mirrored top-bottom",
    (True, False, False): "transposed",
    (True, False, True): "rotated 90° clockwise",
    (True, True, True): "transposed across the other diagonal",
    (True, True, False): "rotated 90° counter-clockwise",
}


@dataclass(frozen=True)
class Turn:
    """An exact right-angle rotation/mirror of (H, W, ...) frames: transpose, then flip rows, then columns."""

    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False

    def __bool__(self) -> bool:
        return self.transpose or self.flip_rows or self.flip_cols

    def apply(self, frame: np.ndarray) -> np.ndarray:
        if self.transpose:
            frame = frame.swapaxes(0, 1)
        if self.flip_rows:
            frame = frame[::-1]
        if self.flip_cols:
            frame = frame[:, ::-1]
        return np.ascontiguousarray(frame)

    def describe(self) -> str:
        return _NAMES.get((self.transpose, self.flip_rows, self.flip_cols), "kept as stored")


def from_display_matrix(matrix: bytes | None, where: object = None) -> Turn:
    """The ``Turn`` of a 36-byte FFmpeg display matrix (None or identity: no turn).

    Raises ConversionError for a rotation that is not a multiple of 90° (or a skew), which only a
    resampling could show; ``--no-autorotate`` keeps the stored frames instead.
    """
    if matrix is None:
        return Turn()
    values = np.frombuffer(bytes(matrix)[:36], dtype="<i4").astype(np.float64)
    if values.size != 9:
        raise ConversionError(where, f"display matrix of {len(bytes(matrix))} bytes, expected 36")
    a, b, c, d = values[[0, 1, 3, 4]] / 65536.0
    scale = max(abs(a), abs(b), abs(c), abs(d))
    if scale == 0:
        return Turn()
    a, b, c, d = (round(v / scale, 3) for v in (a, b, c, d))
    if b == c == 0 and abs(a) == abs(d) == 1:  # x' = a x, y' = d y
        return Turn(False, bool(d < 0), bool(a < 0))
    if a == d == 0 and abs(b) == abs(c) == 1:  # x' = c y, y' = b x: transpose, then flip
        return Turn(True, bool(b < 0), bool(c < 0))
    angle = float(np.degrees(np.arctan2(b, a)))
    raise ConversionError(
        where, f"display matrix rotates by {-angle:.1f}° (not a multiple of 90°); use --no-autorotate to keep it"
    )


def from_exif(orientation: int | None) -> Turn:
    """The ``Turn`` of an EXIF Orientation value (1..8; missing or out of range: none)."""
    return Turn(*_EXIF.get(orientation or 1, _EXIF[1]))
