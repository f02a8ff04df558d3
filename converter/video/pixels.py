"""Pixels of any bit depth and format as the 8-bit RGB the I3D recipe starts from: one rule for every reader.

The recipe (DeepMind's ``evaluate_sample.py``) scales 8-bit RGB by x / 127.5 - 1, so every frame is brought to
uint8 RGB first, by its container's full range:

- n-bit samples (16-bit PNG/TIFF, 10/12/16-bit grey video): ``round(v * 255 / (2**n - 1))``, which for 16 bits
  is ``round(v / 257)``; 10/12-bit YUV and 16-bit RGB video are converted by FFmpeg's swscale to 16-bit RGB
  (``rgb48le``) first, then the same rule. Never the top byte alone (Pillow's 16-bit RGB loader) nor the
  bottom (clipping: Pillow turns a 16-bit grey image into white).
- grey (8/16-bit, 1-bit) is repeated into the three channels; palette images are looked up.
- alpha is dropped: the colour channels are kept as stored, as FFmpeg's rgba → rgb24 does (no compositing).
- CMYK (JPEG, TIFF) uses the uncalibrated R = (255 - C)(255 - K) / 255 of Pillow and browsers without colour
  management; embedded ICC profiles are not applied (nor for RGB).
- 32-bit float or integer images have no defined range and are refused with the file named.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from converter.errors import ConversionError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


def scale_to_uint8(values: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned ``bits``-bit samples as uint8 by the full-range rule: round(v * 255 / (2**bits - 1))."""
    if bits == 8 and values.dtype == np.uint8:
        return values
    top = (1 << bits) - 1
    return np.rint(values.astype(np.float64) * (255.0 / top)).clip(0, 255).astype(np.uint8)


def image_rgb(image: Any, path: str | os.PathLike[str]) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a Pillow image opened from ``path`` (read again through OpenCV for 16-bit colour,
    which Pillow cuts to its top byte)."""
    mode = image.mode
    if mode in _SIXTEEN_BIT:
        return _grey(scale_to_uint8(np.asarray(image), 16))
    if mode == "I":  # 32-bit integers: 16-bit PNGs in older Pillow; anything else has no range
        values = np.asarray(image)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ConversionError(path, f"32-bit integer image (values {values.min()}..{values.max()}); save 8/16-bit")
        return _grey(scale_to_uint8(values, 16))
    if mode == "F":
        raise ConversionError(path, "32-bit float image: no defined pixel range; save it as 8- or 16-bit")
    if mode in ("RGB", "RGBA", "LA") and _bits_per_sample(image, path) == 16:
        return _sixteen_bit_colour(path)
    if mode in ("P", "PA"):
        image = image.convert("RGBA")  # palette entries (with their transparency, then dropped)
    return np.asarray(image.convert("RGB"))


def frame_rgb(frame: Any, reformatter: Any = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a PyAV video frame, any pixel format (8-bit ones as swscale's rgb24).

    ``reformatter``: one ``av.video.reformatter.VideoReformatter`` for all of a video's frames (one swscale
    context and its threads). Without it each frame makes its own, whose threads live as long as the
    frame: once its side data has been read the frame is in a reference cycle, so two threads per frame
    piled up until Python's garbage collector ran (over 100 in one decoding worker).
    """
    if reformatter is None:
        from av.video.reformatter import VideoReformatter

        reformatter = VideoReformatter()
    fmt = frame.format
    bits = max(component.bits for component in fmt.components)
    if bits <= 8:
        return reformatter.reformat(frame, format="rgb24").to_ndarray()
    if fmt.name.startswith("gray") and fmt.name.endswith("le") and len(fmt.components) == 1:
        return _grey(scale_to_uint8(frame.to_ndarray(), bits))  # the raw samples, scaled exactly
    return scale_to_uint8(reformatter.reformat(frame, format="rgb48le").to_ndarray(), 16)


def _grey(values: np.ndarray) -> np.ndarray:
    return np.repeat(values[..., None], 3, axis=-1)


def _bits_per_sample(image: Any, path: str | os.PathLike[str]) -> int:
    """16 for a 16-bit-per-sample PNG or TIFF (which Pillow opens as 8-bit RGB/RGBA/LA), else 8."""
    if image.format == "PNG":
        with open(path, "rb") as f:
            header = f.read(25)  # signature, IHDR length and type, width, height, then the bit depth
        return header[24] if len(header) == 25 else 8
    if image.format == "TIFF":
        bits = image.tag_v2.get(258, (8,))
        return int(max(bits if isinstance(bits, tuple) else (bits,)))
    return 8


def _sixteen_bit_colour(path: str | os.PathLike[str]) -> np.ndarray:
    import cv2

    data = np.fromfile(Path(path), np.uint8)
    values = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if values is None or values.dtype != np.uint16:
        raise ConversionError(path, "cannot read this 16-bit image")
    if values.ndim == 2:
        return _grey(scale_to_uint8(values, 16))
    channels = values.shape[-1]
    if channels == 2:  # grey + alpha
        return _grey(scale_to_uint8(values[..., 0], 16))
    return scale_to_uint8(values[..., 2::-1], 16)  # BGR(A) → RGB, alpha dropped
