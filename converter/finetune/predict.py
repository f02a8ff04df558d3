"""Class probabilities of one clip: a video file, a folder of frames, or a pre-processed clip folder.

Videos and frame folders go through the same recipe as ``preprocess`` (25 fps, turned upright,
short side 256, centre crop 224; flow by ``flow_method``, TV-L1 being the recipe), so a fine-tuned
model sees what it was trained on. Every clip then takes ``evaluate``'s path (``data.centre_clip``):
the centre ``clip_frames`` frames (the whole clip when 0, looped up to I3D's 9 frames when shorter)
and the centre ``crop`` square, so a pre-processed clip of any size ``evaluate`` accepts works here.
Pre-processed arrays are checked as ``evaluate`` checks them (uint8 mapped, 0..255 floats refused).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from converter.errors import ConversionError
from converter.finetune.data import CHANNELS, centre_clip, check_values
from converter.finetune.model import StreamSum
from converter.precision import precision as run_in
from converter.video.decode import Orientation
from converter.video.transforms import CROP, MIN_FRAMES


def clip_arrays(
    path: str | os.PathLike[str],
    streams: tuple[str, ...],
    *,
    fps: float | None = 25.0,
    flow_method: str = "tvl1",
    autorotate: bool = True,
    orientation: Orientation | None = None,
) -> dict[str, np.ndarray]:
    """(T, H, W, C) arrays of each stream for the clip at ``path``: float32 in [-1, 1] from a video, or a
    pre-processed folder's ``<stream>.npy`` as stored (float in [-1, 1] or uint8; anything else refused)."""
    path = Path(path)
    if path.is_dir() and all((path / f"{s}.npy").is_file() for s in streams):
        arrays = {}
        for stream in streams:
            file = path / f"{stream}.npy"
            try:
                array = np.load(file)
            except (ValueError, OSError) as err:
                raise ConversionError(file, f"not a readable .npy file: {err}") from None
            if array.ndim != 4 or array.shape[3] != CHANNELS[stream] or array.shape[0] < 1:
                raise ConversionError(file, f"shape {array.shape}, expected (T, H, W, {CHANNELS[stream]}) with T >= 1")
            check_values(file, array)
            arrays[stream] = array
        return arrays
    if not path.exists():
        raise ConversionError(path, "no such video, frames folder or pre-processed clip")
    from converter.video.decode import iter_frames
    from converter.video.transforms import rgb_clip

    frames = list(iter_frames(path, fps, autorotate=autorotate, orientation=orientation))
    if not frames:
        raise ConversionError(path, "no frames decoded")
    arrays = {}
    if "rgb" in streams:
        arrays["rgb"] = rgb_clip(frames)
    if "flow" in streams:
        from converter.video.flow import flow_clip

        arrays["flow"] = flow_clip(frames, flow_method)
    return arrays


def predict(
    model: StreamSum,
    arrays: dict[str, np.ndarray],
    clip_frames: int = 0,
    *,
    crop: int = CROP,
    precision: str = "fp32",
    path: str | os.PathLike[str] | None = None,
) -> torch.Tensor:
    """Softmax over the classes of the summed logits, for the whole clip (``clip_frames`` 0) or its centre,
    on the centre ``crop`` square, computed in ``precision``; ``path`` names the clip in errors."""
    total = min(array.shape[0] for array in arrays.values())
    smallest = min(min(array.shape[1:3]) for array in arrays.values())
    if smallest < crop:
        raise ConversionError(path, f"frames of {smallest} pixels are smaller than the crop {crop}")
    length = clip_frames or max(total, MIN_FRAMES)
    device = next(model.parameters()).device
    inputs = {stream: centre_clip(arrays[stream][:total], length, crop)[None].to(device) for stream in model.streams}
    with torch.no_grad(), run_in(precision, device):
        return model.eval()(inputs).float().softmax(1)[0].cpu()
