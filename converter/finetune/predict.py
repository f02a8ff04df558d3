"""Class probabilities of one clip: a video file, a folder of frames, or a pre-processed clip folder.

Videos and frame folders go through the same recipe as ``preprocess`` (25 fps, short side 256,
centre crop 224; flow by ``flow_method``, TV-L1 being the recipe), so a fine-tuned model sees what
it was trained on. The clip is scored whole (looped up to I3D's 9 frames when shorter), or its
centre ``clip_frames`` frames.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from converter.errors import ConversionError
from converter.finetune.data import CHANNELS, window
from converter.finetune.model import StreamSum
from converter.video.transforms import MIN_FRAMES


def clip_arrays(
    path: str | os.PathLike[str], streams: tuple[str, ...], *, fps: float | None = 25.0, flow_method: str = "tvl1"
) -> dict[str, np.ndarray]:
    """(T, 224, 224, C) float32 arrays in [-1, 1] of each stream for the clip at ``path``."""
    path = Path(path)
    if path.is_dir() and all((path / f"{s}.npy").is_file() for s in streams):
        arrays = {s: np.load(path / f"{s}.npy").astype(np.float32) for s in streams}
        for stream, array in arrays.items():
            if array.ndim != 4 or array.shape[3] != CHANNELS[stream]:
                raise ConversionError(
                    path / f"{stream}.npy", f"shape {array.shape}, expected (T, H, W, {CHANNELS[stream]})"
                )
        return arrays
    if not path.exists():
        raise ConversionError(path, "no such video, frames folder or pre-processed clip")
    from converter.video.decode import iter_frames
    from converter.video.transforms import rgb_clip

    frames = list(iter_frames(path, fps))
    if not frames:
        raise ConversionError(path, "no frames decoded")
    arrays = {}
    if "rgb" in streams:
        arrays["rgb"] = rgb_clip(frames)
    if "flow" in streams:
        from converter.video.flow import flow_clip

        arrays["flow"] = flow_clip(frames, flow_method)
    return arrays


def predict(model: StreamSum, arrays: dict[str, np.ndarray], clip_frames: int = 0) -> torch.Tensor:
    """Softmax over the classes of the summed logits, for the whole clip (``clip_frames`` 0) or its centre."""
    total = min(array.shape[0] for array in arrays.values())
    length = clip_frames or max(total, MIN_FRAMES)
    frames = window(total, length, None)
    device = next(model.parameters()).device
    inputs = {
        stream: torch.from_numpy(np.ascontiguousarray(arrays[stream][frames].transpose(3, 0, 1, 2)))[None].to(device)
        for stream in model.streams
    }
    with torch.no_grad():
        return model.eval()(inputs).float().softmax(1)[0].cpu()
