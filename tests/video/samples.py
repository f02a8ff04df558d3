"""What the video-app tests feed I3D: moving-shape frames (written as videos by ``write_video``) and
random I3D weights files of either stream."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from converter.writers import write_weights


def moving_shapes(count: int, height: int = 72, width: int = 96) -> list[np.ndarray]:
    """uint8 RGB frames: a red square moving right and a green disc moving down over a grey gradient."""
    rows, cols = np.mgrid[0:height, 0:width]
    background = np.repeat((40 + 120 * cols / width)[..., None], 3, axis=2)
    frames = []
    for t in range(count):
        frame = background.copy()
        left, top = (4 + 3 * t) % (width - 16), height // 4
        frame[top : top + 16, left : left + 16] = (220, 30, 30)
        cy, cx = (8 + 2 * t) % (height - 8), 3 * width // 4
        frame[(rows - cy) ** 2 + (cols - cx) ** 2 < 64] = (30, 200, 60)
        frames.append(frame.astype(np.uint8))
    return frames


def write_random_i3d(path: Path, state: dict[str, np.ndarray], num_classes: int, in_channels: int) -> Path:
    """A weights file of ``state`` (random I3D parameters) as ``load_model`` reads it, without labels."""
    config = json.dumps({"num_classes": num_classes, "in_channels": in_channels})
    write_weights(path, state, {"architecture": "i3d", "config": config})
    return path
