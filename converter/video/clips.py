"""Model inputs of a video, streamed: per-frame arrays of each stream, and windows of consecutive frames.

A window holds only its own frames (a deque of ``length`` items), so a video of any length is read
with bounded memory. Windows start every ``stride`` frames; frames left uncovered at the end, or a
video shorter than one window, make one last window starting at the next start, loop-padded (see
``transforms.loop_pad``) to ``pad_to`` frames, or dropped when ``pad_to`` is None.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import tee
from typing import Generic, TypeVar

import numpy as np
import torch

from converter.errors import ConversionError
from converter.video.decode import Orientation, iter_frames
from converter.video.flow import iter_flow
from converter.video.transforms import iter_rgb

_T = TypeVar("_T")


@dataclass(frozen=True)
class Window(Generic[_T]):
    """``items`` for frames ``start`` to ``start + frames`` (exclusive), loop-padded past ``frames``."""

    start: int
    frames: int
    items: list[_T]

    @property
    def stop(self) -> int:
        return self.start + self.frames


def iter_inputs(
    path: str | os.PathLike[str],
    streams: Sequence[str],
    *,
    fps: float = 25.0,
    flow_method: str = "tvl1",
    autorotate: bool = True,
    orientation: Orientation | None = None,
) -> Iterator[tuple[np.ndarray, ...]]:
    """Per frame sampled at ``fps``, one float32 (224, 224, C) array per stream (``rgb``, ``flow``), in order.

    The video is decoded once (turned upright unless ``autorotate`` is off; ``orientation`` records
    it); the flow of frame t needs frame t + 1, so at most two frames are held.
    """
    makers = {"rgb": iter_rgb, "flow": lambda frames: iter_flow(frames, flow_method)}
    unknown = [s for s in streams if s not in makers]
    if unknown or not streams:
        raise ConversionError(None, f"streams must be among {', '.join(makers)}, got {list(streams)}")
    copies = tee(iter_frames(path, fps, autorotate=autorotate, orientation=orientation), len(streams))
    return zip(*(makers[stream](frames) for stream, frames in zip(streams, copies, strict=True)), strict=True)


def iter_windows(items: Iterable[_T], length: int, stride: int, pad_to: int | None) -> Iterator[Window[_T]]:
    """Windows of ``length`` consecutive items every ``stride`` items, and the tail (see module doc)."""
    from converter.video.windows import Windows  # it builds on Window

    windows: Windows[_T] = Windows(length, stride, pad_to)
    for item in items:
        yield from windows.push(item)
    yield from windows.finish()


def batch_tensor(clips: Sequence[Sequence[np.ndarray]], device: str | torch.device = "cpu") -> torch.Tensor:
    """(B, C, T, H, W) float32 on ``device`` from B clips of T (H, W, C) frames."""
    array = np.stack([np.stack(clip) for clip in clips])
    return torch.from_numpy(array).permute(0, 4, 1, 2, 3).to(device, non_blocking=True).contiguous()
