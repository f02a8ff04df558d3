"""The model inputs of a dataset's videos, made in ``DataLoader`` worker processes: decoding, frame
selection, resizing, crops and optical flow run beside the model, through bounded queues.

Each worker takes videos ``w, w + workers, …`` of its process's share, claims each one
(``claims``) before decoding it and sends it as messages (dicts, in order per video):

- ``{"kind": "frames", "index", "items": {stream: (n, crops, 224, 224, C) float32}, "times": [(start, end)]}``
  for every ``CHUNK`` frames (times in seconds, from the frames' presentation times);
- ``{"kind": "end", "index", "frames", "rotation", "seconds": {"decode", "flow"}, "token"}`` once decoded;
- ``{"kind": "failed", "index", "reason", …}`` for a video that cannot be read (also part way);
- ``{"kind": "skipped" | "busy" | "refused", "index", …}``: already done, claimed by a live process,
  or done with other settings.

The parent writes the outputs and then removes the claim (``token``); workers die with the parent
(``PR_SET_PDEATHSIG``), so a claim's pid is the parent's.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice, tee
from pathlib import Path

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from converter.errors import ConversionError
from converter.video.claims import Claims
from converter.video.crops import views
from converter.video.dataset import Entry
from converter.video.decode import Orientation, iter_timed_frames
from converter.video.flow import iter_flow
from converter.video.transforms import center_crop, resize_short_side, to_unit_range

CHUNK = 16  # frames per message


@dataclass(frozen=True)
class Job:
    """What the workers need (picklable): the share, where outputs go and the settings."""

    entries: tuple[Entry, ...]
    out_dir: Path
    streams: tuple[str, ...]
    fps: float | None
    crops: int
    flow_method: str
    autorotate: bool
    force: bool
    owner: int  # the pid claims are made for
    done: Callable[[str], bool]  # whether a name is done with these settings (raises for other settings)
    flow_device: str = "cpu"  # where tvl1-torch runs: the model's device


class Stages:
    """Seconds spent in each stage, exclusive of the stages nested inside it."""

    def __init__(self) -> None:
        self.seconds = {"decode": 0.0, "flow": 0.0}

    def timed(self, stage: str, items: Iterator) -> Iterator:
        while True:
            start, before = time.perf_counter(), sum(self.seconds.values())
            try:
                item = next(items)
            except StopIteration:
                return
            finally:
                nested = sum(self.seconds.values()) - before
                self.seconds[stage] += time.perf_counter() - start - nested
            yield item


class VideoInputs(IterableDataset):
    """The messages of the module doc, for this worker's videos."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        indices = range(len(self.job.entries))
        if info is not None:
            indices = indices[info.id :: info.num_workers]
        claims = Claims(self.job.out_dir, pid=self.job.owner)
        try:
            for index in indices:
                yield from self._video(index, claims)
        finally:
            claims.close()

    def _video(self, index: int, claims: Claims) -> Iterator[dict]:
        job, entry = self.job, self.job.entries[index]
        try:
            if not job.force and job.done(entry.name):
                if claims.path(entry.name).exists() and claims.acquire(entry.name):  # a dead owner's leftover
                    claims.release(entry.name)
                yield {"kind": "skipped", "index": index}
                return
        except ConversionError as err:
            yield {"kind": "refused", "index": index, "reason": str(err)}
            return
        if not claims.acquire(entry.name):
            yield {"kind": "busy", "index": index}
            return
        try:
            finished = not job.force and job.done(entry.name)  # by another job just before we claimed it
        except ConversionError as err:  # …with other settings
            claims.release(entry.name)
            yield {"kind": "refused", "index": index, "reason": str(err)}
            return
        if finished:
            claims.release(entry.name)
            yield {"kind": "skipped", "index": index}
            return
        stages, orientation, count = Stages(), Orientation(), 0
        try:
            frames = _frames(entry.source, job, stages, orientation)
            while chunk := list(islice(frames, CHUNK)):
                count += len(chunk)
                items = {s: np.stack([f[0][i] for f in chunk]) for i, s in enumerate(job.streams)}
                yield {"kind": "frames", "index": index, "items": items, "times": [f[1] for f in chunk]}
        except ConversionError as err:
            token = claims.handover(entry.name)
            yield {"kind": "failed", "index": index, "reason": str(err), "token": token, "seconds": stages.seconds}
            return
        token = claims.handover(entry.name)
        end = {"frames": count, "rotation": orientation.describe(), "seconds": stages.seconds, "token": token}
        yield {"kind": "end", "index": index, **end}


def _frames(source: Path, job: Job, stages: Stages, orientation: Orientation) -> Iterator[tuple[tuple, tuple]]:
    """Per selected frame: (one (crops, 224, 224, C) array per stream, (start, end) seconds)."""
    times: list[tuple[float, float]] = []

    def decoded() -> Iterator[np.ndarray]:
        timed = iter_timed_frames(source, job.fps, autorotate=job.autorotate, orientation=orientation)
        for frame in stages.timed("decode", timed):
            times.append((float(frame.start), float(frame.end)))
            yield frame.item

    makers = {"rgb": lambda frames: (_rgb(f, job.crops) for f in frames), "flow": lambda frames: _flow(frames, job)}
    frames = decoded()
    if len(job.streams) == 1:
        per_stream = [stages.timed("decode" if job.streams[0] == "rgb" else "flow", makers[job.streams[0]](frames))]
    else:
        copies = tee(frames, len(job.streams))
        per_stream = [
            stages.timed("decode" if s == "rgb" else "flow", makers[s](c))
            for s, c in zip(job.streams, copies, strict=True)
        ]
    for index, items in enumerate(zip(*per_stream, strict=True)):
        yield items, times[index]


def _rgb(frame: np.ndarray, crops: int) -> np.ndarray:
    return to_unit_range(views(resize_short_side(frame), crops))


def _flow(frames: Iterator[np.ndarray], job: Job) -> Iterator[np.ndarray]:
    crop = center_crop if job.crops == 1 else (lambda flow: flow)
    for flow in iter_flow(frames, job.flow_method, crop=crop, device=job.flow_device):
        yield views(flow, job.crops, flow=True) if job.crops > 1 else flow[None]


def stop(messages: Iterator[dict]) -> None:
    """Shut the decoding workers of a ``DataLoader`` iterator down and wait for them, as dropping the
    iterator does (which a traceback through it delays after an error): none claims a video after."""
    shutdown = getattr(messages, "_shutdown_workers", None)  # DataLoader's iterators have no public close
    if shutdown is not None:
        shutdown()


def worker_init(_: int) -> None:
    """Decoding workers: one thread each (they share the cores), and killed with their parent.

    They ignore SIGTERM, as DataLoader workers ignore Ctrl-C: torchrun sends it to each rank's whole
    process group, and the parent, stopping, shuts them down itself, then removes the claims they made
    for it (``stop``, ``Claims.release_orphans``); a worker dying meanwhile would cut that clean-up short
    with DataLoader's "worker exited unexpectedly".
    """
    import signal

    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)
