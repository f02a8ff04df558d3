"""Optical-flow input of I3D: TV-L1 on grayscale frames resized to short side 256, clipped to
[-20, 20] pixels, divided by 20, centre crop 224; channel 0 is x (right), 1 is y (down).

Flow is computed on the whole resized frame and then cropped like the RGB, so the crop edges
see real motion. OpenCV's TV-L1 ("tvl1") is slow (about a second per pair here); "tvl1-torch" is the
same algorithm in PyTorch (``tvl1.py``: equal to OpenCV's within OpenCV's own noise), run on
batches of pairs on CUDA when there is one. "dis" and "farneback" are offered for speed; they are NOT
the I3D recipe and the published flow weights were not trained on them.

Time alignment: T frames give T flow frames. Flow frame t is the motion from frame t to t+1 for
t < T - 1; the last one repeats flow frame T - 2 (zeros for a one-frame clip), so the RGB and
flow streams of a clip stay the same length, as in the official cricket sample (79 and 79).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import cv2
import numpy as np

from converter.choices import FLOW_METHODS, RECIPE_FLOW_METHODS
from converter.errors import ConversionError
from converter.video.transforms import CROP, center_crop, resize_short_side

RECIPE_METHOD = "tvl1"
TORCH_METHOD = "tvl1-torch"
METHODS = FLOW_METHODS
RECIPE_METHODS = RECIPE_FLOW_METHODS
BOUND = 20.0
BATCH = {"cpu": 1, "cuda": 64}  # pairs per tvl1-torch call (on CPU a batch is no faster per pair)

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
    if method == TORCH_METHOD:
        batch = batch_flow_function()
        return lambda prev, nxt: batch([prev], [nxt])[0]
    raise ConversionError(None, f"unknown flow method {method!r}; choose one of {', '.join(METHODS)}")


BatchFlowFunction = Callable[[list[np.ndarray], list[np.ndarray]], list[np.ndarray]]


def batch_flow_function(device: str | None = None) -> BatchFlowFunction:
    """``f(prevs, nexts)`` for tvl1-torch: lists of uint8 grayscale images -> their float32 (H, W, 2)
    flows, computed as one batch on ``device`` (default: cuda when available, else cpu) with the
    parameters of the installed OpenCV (its remap changed in 5.0)."""
    import torch

    from converter.video.tvl1 import TVL1Params, tvl1

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    params = TVL1Params.like_opencv(cv2.__version__)

    def compute(prevs: list[np.ndarray], nexts: list[np.ndarray]) -> list[np.ndarray]:
        with _one_cpu_thread(device):
            a = torch.from_numpy(np.stack(prevs)).to(device)
            b = torch.from_numpy(np.stack(nexts)).to(device)
            return list(tvl1(a, b, params).cpu().numpy())

    return compute


@contextmanager
def _one_cpu_thread(device: str):
    """On CPU, TV-L1's many small element-wise steps lose more to thread synchronisation than they gain
    (severely on a loaded machine): run them on one thread, parallelise over videos (``--workers``)."""
    import torch

    before = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def normalize_flow(flow: np.ndarray) -> np.ndarray:
    """Pixels to the I3D range: clip to [-20, 20], divide by 20 (float32)."""
    return np.clip(flow, -BOUND, BOUND).astype(np.float32) / np.float32(BOUND)


def gray(frame: np.ndarray) -> np.ndarray:
    """uint8 RGB frame -> uint8 grayscale at the flow resolution (short side 256)."""
    return cv2.cvtColor(resize_short_side(frame), cv2.COLOR_RGB2GRAY)


def iter_flow(
    frames: Iterable[np.ndarray],
    method: str = RECIPE_METHOD,
    crop: Callable[[np.ndarray], np.ndarray] = center_crop,
    device: str | None = None,
) -> Iterator[np.ndarray]:
    """float32 (224, 224, 2) flow frames in [-1, 1], one per input uint8 RGB frame (see module doc).
    tvl1-torch computes pairs in batches on ``device`` (default: cuda when available, else cpu), so its
    flow frames come a batch at a time. ``crop`` takes the view of the short-side-256 flow (the
    identity keeps it whole, for ten crops)."""
    if method == TORCH_METHOD:
        import torch

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        compute, size = batch_flow_function(device), BATCH[torch.device(device).type]
    else:
        single, size = flow_function(method), 1

        def compute(prevs: list[np.ndarray], nexts: list[np.ndarray]) -> list[np.ndarray]:
            return [single(a, b) for a, b in zip(prevs, nexts, strict=True)]

    grays: list[np.ndarray] = []  # the frames of pairs not computed yet, and the one before them
    last = None
    for frame in frames:
        grays.append(gray(frame))
        if len(grays) > size:
            for flow in compute(grays[:-1], grays[1:]):
                last = normalize_flow(crop(flow))
                yield last
            grays = grays[-1:]
    if len(grays) > 1:
        for flow in compute(grays[:-1], grays[1:]):
            last = normalize_flow(crop(flow))
            yield last
    if grays:
        yield last if last is not None else crop(np.zeros((*grays[0].shape, 2), np.float32))


def flow_clip(frames: Iterable[np.ndarray], method: str = RECIPE_METHOD) -> np.ndarray:
    """float32 (T, 224, 224, 2) for T uint8 RGB frames (no padding: see ``transforms.loop_pad``)."""
    out = list(iter_flow(frames, method))
    return np.stack(out) if out else np.empty((0, CROP, CROP, 2), np.float32)
