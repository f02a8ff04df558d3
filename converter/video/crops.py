"""Spatial views of a frame resized to short side 256: the centre crop, or ten crops.

Ten-crop is torchvision's ``TenCrop(224)`` order (the convention of RTFM, CMCS and the I3D feature
sets of anomaly detection): the four corners and the centre, then the same five crops of the
horizontally mirrored frame. Our centre rounds the top/left offsets down (as ``center_crop``), so the
centre view is exactly the one-crop input. Mirroring optical flow also negates its x channel
(motion to the right becomes motion to the left).
"""

from __future__ import annotations

import numpy as np

from converter.video.transforms import CROP, center_crop

FIVE = ("top-left", "top-right", "bottom-left", "bottom-right", "centre")
NAMES = {1: ("centre",), 10: (*FIVE, *(f"mirrored {name}" for name in FIVE))}


def views(array: np.ndarray, crops: int, *, flow: bool = False, size: int = CROP) -> np.ndarray:
    """(crops, size, size, C) views of an (H, W, C) array (``NAMES[crops]`` in order); ``flow``: x negated
    in the mirrored ones."""
    if crops == 1:
        return center_crop(array, size)[None]
    height, width = array.shape[:2]
    mirrored = array[:, ::-1]
    if flow:
        mirrored = mirrored * np.array([-1, 1], array.dtype)
    out = []
    for image in (array, mirrored):
        out += [
            image[:size, :size],
            image[:size, width - size :],
            image[height - size :, :size],
            image[height - size :, width - size :],
            center_crop(image, size),
        ]
    return np.stack(out)
