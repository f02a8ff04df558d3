"""Optical-flow input of I3D: TV-L1 on grayscale frames resized to short side 256, clipped to
[-20, 20] pixels, divided by 20, centre crop 224; channel 0 is x (right), 1 is y (down).

Flow is computed on the whole resized frame and then cropped like the RGB, so the crop edges
see real motion. TV-L1 is slow (about a second per pair here), so "dis" and "farneback" are
offered for speed; they are NOT the I3D recipe and the published flow weights were not trained
on them.

Time alignment: T frames give T flow frames. Flow frame t is the motion from frame t to t+1 for
t < T - 1; the last one repeats flow frame T - 2 (zeros for a one-frame clip), so the RGB and
flow streams of a clip stay the same length, as in the official cricket sample (79 and 79).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import cv2
import numpy as np

from converter.errors import ConversionError
from converter.video.transforms import CROP, center_crop, resize_short_side

RECIPE_METHOD = "tvl1"
METHODS = ("tvl1", "dis", "farneback")
BOUND = 20.0

FlowFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


def flow_function(method: str = RECIPE_METHOD) -> FlowFunction:
    """``f(prev, next)`` on uint8 grayscale images -> float32 (H, W, 2) flow in pixels."""
    if method in ("tvl1", "dis"):
        solver = (
            cv2.optflow.DualTVL1OpticalFlow_create()
            if method == "tvl1"
            else cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        )
        return lambda prev, nxt: solver.calc(prev, nxt, None)
    if method == "farneback":
        return lambda prev, nxt: cv2.calcOpticalFlowFarneback(prev, nxt, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    raise ConversionError(None, f"unknown flow method {method!r}; choose one of {', '.join(METHODS)}")


def normalize_flow(flow: np.ndarray) -> np.ndarray:
    """Pixels to the I3D range: clip to [-20, 20], divide by 20 (float32)."""
    return np.clip(flow, -BOUND, BOUND).astype(np.float32) / np.float32(BOUND)


def gray(frame: np.ndarray) -> np.ndarray:
    """uint8 RGB frame -> uint8 grayscale at the flow resolution (short side 256)."""
    return cv2.cvtColor(resize_short_side(frame), cv2.COLOR_RGB2GRAY)


def iter_flow(frames: Iterable[np.ndarray], method: str = RECIPE_METHOD) -> Iterator[np.ndarray]:
    """float32 (224, 224, 2) flow frames in [-1, 1], one per input uint8 RGB frame (see module doc)."""
    compute = flow_function(method)
    previous = last = None
    for frame in frames:
        current = gray(frame)
        if previous is not None:
            last = normalize_flow(center_crop(compute(previous, current)))
            yield last
        previous = current
    if previous is not None:
        yield last if last is not None else np.zeros((CROP, CROP, 2), np.float32)


def flow_clip(frames: Iterable[np.ndarray], method: str = RECIPE_METHOD) -> np.ndarray:
    """float32 (T, 224, 224, 2) for T uint8 RGB frames (no padding: see ``transforms.loop_pad``)."""
    out = list(iter_flow(frames, method))
    return np.stack(out) if out else np.empty((0, CROP, CROP, 2), np.float32)
