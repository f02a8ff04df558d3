"""I3D features of videos: one endpoint's activations for clips of ``clip`` frames every ``stride`` frames.

Each video gives ``<out>/<name>.npy`` (clips × feature) and ``<out>/<name>.json`` (settings and each
clip's frames and start/end seconds, from the frames' presentation times), where ``name`` mirrors
the video's path in the dataset (``dataset``). A video shorter than one clip, and the frames after
the last whole clip, make one last clip loop-padded to ``clip`` frames (its timestamps give the
real frames), unless ``drop_last``. ``window="centered"`` gives instead one row per ``stride``-th
frame from the ``clip`` frames centred on it, edge-padded (``windows``). Endpoint maps (B, C, T, H, W)
are averaged over T, H and W to (clips, C) unless ``pool`` is off ((clips, C, T, H, W)); ``Logits`` is
(clips, classes); ``crops`` 10 adds an axis of the ten views (``crops``) after the clip axis.

Decoding, resizing, crops and flow run in ``workers`` DataLoader processes (``inputs``; 0: in this
process) while the model runs here, one video's clips per batch (so results do not depend on how
videos are spread). Each video is claimed before work (``claims``): several processes, torchrun
ranks or independent jobs can share one output folder, and a rerun after a crash finishes exactly the
missing videos. Outputs are atomic, and ``<out>/manifest.jsonl`` gets one line per video finished or
failed (``manifest``). A failed video is reported and the others go on.

The ``joint`` stream decodes each video once, computes RGB and flow inputs of the same frames, runs
both models on the same clips and writes their features concatenated on the channel axis, RGB
first (Mixed_5c: 1024 + 1024 = 2048 per clip, the two-stream features of action-localisation
work); ``per_stream`` also writes ``<name>.rgb.npy`` and ``<name>.flow.npy``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from converter.errors import ConversionError, fields
from converter.models.i3d_spec import ENDPOINTS
from converter.precision import PRECISIONS
from converter.progress import progress as progress_counter
from converter.video.clips import Window, iter_inputs, iter_windows
from converter.video.crops import NAMES as CROP_NAMES
from converter.video.dataset import expand
from converter.video.decode import Orientation
from converter.video.feature_outputs import Summary, is_done
from converter.video.feature_run import Run, forward
from converter.video.flow import METHODS
from converter.video.inputs import Job, VideoInputs, stop, worker_init
from converter.video.transforms import MIN_FRAMES
from converter.video.windows import KINDS


@dataclass(frozen=True)
class FeatureSettings:
    """What a video's features depend on; recorded in its ``.json``. ``fps`` None: every frame as decoded."""

    endpoint: str = "Mixed_5c"
    clip: int = 64
    stride: int = 64
    fps: float | None = 25.0
    pool: bool = True
    drop_last: bool = False
    flow_method: str = "tvl1"
    autorotate: bool = True
    precision: str = "fp32"
    crops: int = 1
    window: str = "clips"
    preset: str | None = None

    def __post_init__(self) -> None:
        problems = {
            f"endpoint must be one of {', '.join(ENDPOINTS)}": (self.endpoint not in ENDPOINTS, ("endpoint",)),
            "clip and stride must be at least 1": (self.clip < 1 or self.stride < 1, ("clip", "stride")),
            f"Logits need clips of at least {MIN_FRAMES} frames (--clip)": (
                self.endpoint == "Logits" and self.clip < MIN_FRAMES,
                ("clip",),
            ),
            "fps must be positive, or None for every frame": (self.fps is not None and not self.fps > 0, ("fps",)),
            f"flow method must be one of {', '.join(METHODS)}": (self.flow_method not in METHODS, ("flow_method",)),
            f"precision must be one of {', '.join(PRECISIONS)}": (self.precision not in PRECISIONS, ("precision",)),
            f"crops must be one of {', '.join(map(str, CROP_NAMES))}": (self.crops not in CROP_NAMES, ("crops",)),
            f"window must be one of {', '.join(KINDS)}": (self.window not in KINDS, ("window",)),
        }
        for reason, (bad, names) in problems.items():
            if bad:
                raise ConversionError(None, f"{reason}; got {fields(self, *names)}")


def extract(
    videos: Sequence[str | os.PathLike[str]],
    model: torch.nn.Module | dict[str, torch.nn.Module],
    stream: str,
    out_dir: str | os.PathLike[str],
    settings: FeatureSettings | None = None,
    *,
    batch: int = 4,
    force: bool = False,
    progress: bool = True,
    per_stream: bool = False,
    workers: int = 0,
    share: tuple[int, int] = (0, 1),
) -> Summary:
    """Features of every video into ``out_dir`` with ``model``: an I3D of ``stream`` (on its device), or
    for ``stream`` "joint" ``{"rgb": …, "flow": …}`` (``per_stream``: also each stream's own array).

    ``videos``: files, folders (searched recursively) and ``@list.txt`` (``dataset.expand``);
    ``share`` (index, count): this process's share of them (``dataset.share``); ``workers``: decoding
    processes (0: decode here).
    """
    start = time.perf_counter()
    settings = settings or FeatureSettings()
    if batch < 1 or workers < 0:
        raise ConversionError(None, f"batch must be at least 1 and workers at least 0, got {batch} and {workers}")
    models = _models(model, stream)
    entries = expand(videos)[share[0] :: share[1]]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = Run(entries, models, settings, out_dir, batch, per_stream, share)
    job = Job(
        tuple(entries),
        out_dir,
        tuple(models),
        settings.fps,
        settings.crops,
        settings.flow_method,
        settings.autorotate,
        force,
        os.getpid(),
        partial(is_done, out_dir, recorded=run.recorded, parts=run.parts),
        str(_device(models)),
    )
    loader = torch.utils.data.DataLoader(
        VideoInputs(job),
        batch_size=None,
        num_workers=workers,
        worker_init_fn=worker_init if workers else None,
        prefetch_factor=2 if workers else None,
        multiprocessing_context="spawn" if workers else None,  # fork after torch's threads can hang
    )
    bar = progress_counter(len(entries), unit="video", desc="features", enabled=progress)
    messages, complete = iter(loader), False
    try:
        for message in messages:
            outcome = run.receive(message, bar)
            if outcome is not None:
                run.summary.outcomes.append(outcome)
                bar.update(1)
        complete = True
    finally:  # also on an error or Ctrl-C, and SIGTERM under torchrun (another rank failed)
        stop(messages)
        run.close(workers_done=complete)
        bar.close()
    order = {entry.source: index for index, entry in enumerate(entries)}
    run.summary.outcomes.sort(key=lambda o: order[o.video])
    run.summary.seconds = time.perf_counter() - start
    return run.summary


@dataclass
class Log:
    """What ``iter_features`` has read so far: frames decoded, and each clip's ``Window`` (without items)."""

    frames: int = 0
    windows: list[Window] = field(default_factory=list)
    orientation: Orientation = field(default_factory=Orientation)


def iter_features(
    video: Path,
    model: torch.nn.Module | dict[str, torch.nn.Module],
    stream: str,
    settings: FeatureSettings,
    batch: int,
    log: Log,
) -> Iterator[np.ndarray]:
    """One feature array per clip of one video, in order, batched on the model's device (centre crop,
    clips); ``log`` follows along. ``joint``: RGB and flow features concatenated, RGB first."""
    models = _models(model, stream)

    def inputs() -> Iterator[tuple[np.ndarray, ...]]:
        frames = iter_inputs(
            video,
            tuple(models),
            fps=settings.fps,
            flow_method=settings.flow_method,
            autorotate=settings.autorotate,
            orientation=log.orientation,
        )
        for frame in frames:
            log.frames += 1
            yield tuple(item[None] for item in frame)

    clips = iter_windows(inputs(), settings.clip, settings.stride, None if settings.drop_last else settings.clip)
    while group := list(islice(clips, batch)):
        values = forward(models, group, settings)
        log.windows.extend(Window(w.start, w.frames, []) for w in group)
        for row in range(len(group)):
            yield np.concatenate([array[row] for array in values.values()], axis=0)


def _device(models: dict[str, torch.nn.Module]) -> torch.device:
    """Where the models run (tvl1-torch flow runs there too)."""
    return next(next(iter(models.values())).parameters()).device


def _models(model: torch.nn.Module | dict[str, torch.nn.Module], stream: str) -> dict[str, torch.nn.Module]:
    """``{stream: model}``, RGB first; ``joint`` needs an RGB and a flow model."""
    models = dict(model) if isinstance(model, dict) else {stream: model}
    wanted = ["rgb", "flow"] if stream == "joint" else [stream]
    if sorted(models) != sorted(wanted):
        raise ConversionError(None, f"the {stream} stream needs models {wanted}, got {sorted(models)}")
    return {name: models[name] for name in wanted}
