"""Kinetics classes of a video under converted I3D weights: RGB, flow, or both (joint).

The video goes through the I3D recipe (25 fps, short side 256, centre crop 224; flow computed on
the fly). A video of up to ``window`` frames (default 250: Kinetics clips are 10 s at 25 fps) is
scored whole, as DeepMind's sample scores its 79 frames; a longer one is cut into consecutive
windows of ``window`` frames (the last one shorter), and their logits are averaged weighted by
their frame counts, which extends I3D's own mean over time to the whole video while holding one
window at a time. Windows shorter than I3D's 9 frames are looped. Joint logits are the sum of the
RGB and flow logits, as in the I3D paper; probabilities are the softmax of the (summed) logits.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from converter.errors import ConversionError
from converter.precision import precision as run_in
from converter.progress import progress as counter
from converter.video.clips import batch_tensor, iter_inputs, iter_windows
from converter.video.decode import Orientation
from converter.video.streams import class_names
from converter.video.transforms import MIN_FRAMES

_T = TypeVar("_T")

DEFAULT_WINDOW = 250


@dataclass(frozen=True)
class Ranked:
    rank: int
    index: int
    label: str
    probability: float
    logit: float
    stream_logits: dict[str, float]


@dataclass(frozen=True)
class Classification:
    """Frame-weighted mean logits of each stream over the windows ``(start, frames)`` of a video."""

    video: Path
    labels: list[str]
    stream_logits: dict[str, np.ndarray]
    frames: int
    windows: list[tuple[int, int]]
    orientation: str = ""  # what decoding turned upright ('' when nothing), see decode.Orientation
    precision: str = "fp32"

    @property
    def logits(self) -> np.ndarray:
        return np.sum(list(self.stream_logits.values()), axis=0)

    @property
    def probabilities(self) -> np.ndarray:
        logits = self.logits.astype(np.float64)
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()

    def top(self, k: int = 5) -> list[Ranked]:
        """The ``k`` most likely classes, best first."""
        probabilities, logits = self.probabilities, self.logits
        order = np.argsort(-logits, kind="stable")[:k]
        return [
            Ranked(
                rank,
                int(i),
                self.labels[i],
                float(probabilities[i]),
                float(logits[i]),
                {s: float(v[i]) for s, v in self.stream_logits.items()},
            )
            for rank, i in enumerate(order, 1)
        ]


def classify(
    video: str | os.PathLike[str],
    models: dict[str, torch.nn.Module],
    *,
    fps: float = 25.0,
    flow_method: str = "tvl1",
    window: int = DEFAULT_WINDOW,
    autorotate: bool = True,
    precision: str = "fp32",
    progress: bool = False,
) -> Classification:
    """Score ``video`` with one model per stream (``{"rgb": …, "flow": …}``, same classes), on their device,
    in ``precision`` (see ``converter.precision``); frames are turned upright unless ``autorotate`` is off.
    ``progress``: count the frames on stderr while flow is computed (OpenCV's TV-L1: about a second each)."""
    video = Path(video)
    if window < MIN_FRAMES:
        raise ConversionError(None, f"window of {window} frames: I3D's logits need at least {MIN_FRAMES}")
    streams = list(models)
    sizes = {s: m.num_classes for s, m in models.items()}
    if len(set(sizes.values())) != 1:
        raise ConversionError(None, f"the streams have different class counts: {sizes}")
    labels = class_names(models[streams[0]])
    totals = {s: np.zeros(sizes[s], np.float64) for s in streams}
    windows: list[tuple[int, int]] = []
    orientation = Orientation()
    inputs = iter_inputs(
        video, streams, fps=fps, flow_method=flow_method, autorotate=autorotate, orientation=orientation
    )
    device = next(models[streams[0]].parameters()).device
    bar = counter(None, unit="frame", desc=f"flow ({flow_method})", enabled=progress and "flow" in streams)
    inputs = _counted(inputs, bar)
    with bar, torch.inference_mode(), run_in(precision, device):
        for win in iter_windows(inputs, window, window, pad_to=MIN_FRAMES):
            for index, stream in enumerate(streams):
                model = models[stream]
                device = next(model.parameters()).device
                clip = batch_tensor([[frame[index] for frame in win.items]], device)
                totals[stream] += win.frames * model(clip)[0].double().cpu().numpy()
            windows.append((win.start, win.frames))
    frames = sum(count for _, count in windows)
    if not frames:
        raise ConversionError(video, "no frames decoded")
    logits = {s: (t / frames).astype(np.float32) for s, t in totals.items()}
    return Classification(video, labels, logits, frames, windows, orientation.describe(), precision)


def _counted(items: Iterator[_T], bar: Any) -> Iterator[_T]:
    for item in items:
        bar.update(1)
        yield item
