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

import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from converter.errors import ConversionError
from converter.models.i3d_spec import ENDPOINTS
from converter.precision import PRECISIONS
from converter.precision import precision as run_in
from converter.video import manifest
from converter.video.claims import HOST, Claims
from converter.video.clips import Window, batch_tensor, iter_inputs, iter_windows
from converter.video.crops import NAMES as CROP_NAMES
from converter.video.dataset import Entry, expand
from converter.video.decode import Orientation
from converter.video.feature_outputs import NpyWriter, is_done, write_atomic
from converter.video.flow import METHODS
from converter.video.inputs import Job, VideoInputs, worker_init
from converter.video.transforms import MIN_FRAMES
from converter.video.windows import KINDS, Windows, edge_padded


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
            f"endpoint must be one of {', '.join(ENDPOINTS)}": self.endpoint not in ENDPOINTS,
            "clip and stride must be at least 1": self.clip < 1 or self.stride < 1,
            f"Logits need clips of at least {MIN_FRAMES} frames": self.endpoint == "Logits" and self.clip < MIN_FRAMES,
            "fps must be positive, or None for every frame": self.fps is not None and not self.fps > 0,
            f"flow method must be one of {', '.join(METHODS)}": self.flow_method not in METHODS,
            f"precision must be one of {', '.join(PRECISIONS)}": self.precision not in PRECISIONS,
            f"crops must be one of {', '.join(map(str, CROP_NAMES))}": self.crops not in CROP_NAMES,
            f"window must be one of {', '.join(KINDS)}": self.window not in KINDS,
        }
        for reason, bad in problems.items():
            if bad:
                raise ConversionError(None, f"{reason}; got {self}")


@dataclass(frozen=True)
class Outcome:
    video: Path
    status: str  # "done", "skipped", "busy" (another process has it) or "failed"
    shape: tuple[int, ...] = ()
    frames: int = 0
    seconds: float = 0.0
    reason: str = ""
    orientation: str = ""


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def of(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    def lines(self) -> list[str]:
        done, busy = self.of("done"), self.of("busy")
        frames, spent = sum(o.frames for o in done), sum(o.seconds for o in done)
        lines = [
            f"{o.video}: {o.shape} features of {o.frames} frames in {o.seconds:.1f} s"
            + (f", frames {o.orientation}" if o.orientation else "")
            for o in done
        ]
        lines.append(
            f"{len(done)} done, {len(self.of('skipped'))} already done, {len(self.of('failed'))} failed "
            f"of {len(self.outcomes)} videos in {self.seconds:.1f} s"
            + (f" ({frames / spent:.1f} frames/s)" if spent else "")
            + (f", {len(busy)} left to other processes working on them" if busy else "")
        )
        return lines + [f"failed: {o.reason}" for o in self.of("failed")]


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
    run = _Run(entries, models, settings, out_dir, batch, per_stream, share)
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
    )
    loader = torch.utils.data.DataLoader(
        VideoInputs(job),
        batch_size=None,
        num_workers=workers,
        worker_init_fn=worker_init if workers else None,
        prefetch_factor=2 if workers else None,
        multiprocessing_context="spawn" if workers else None,  # fork after torch's threads can hang
    )
    bar = _progress(len(entries), progress)
    try:
        for message in loader:
            outcome = run.receive(message, bar)
            if outcome is not None:
                run.summary.outcomes.append(outcome)
                bar.update(1)
    finally:
        run.close()
        bar.close()
    order = {entry.source: index for index, entry in enumerate(entries)}
    run.summary.outcomes.sort(key=lambda o: order[o.video])
    run.summary.seconds = time.perf_counter() - start
    return run.summary


class _Run:
    """The parent's side: windows, model and outputs of the videos in flight."""

    def __init__(self, entries, models, settings, out_dir, batch, per_stream, share) -> None:
        self.entries, self.models, self.settings, self.out_dir, self.batch = entries, models, settings, out_dir, batch
        self.stream = "joint" if len(models) > 1 else next(iter(models))
        self.parts = tuple(models) if per_stream and len(models) > 1 else ()
        weights = {s: _weights_id(m) for s, m in models.items()}
        self.recorded = {**asdict(settings), "stream": self.stream, "weights": weights.get(self.stream, weights)}
        if self.stream == "rgb":
            del self.recorded["flow_method"]  # RGB features do not depend on it
        self.hash = manifest.settings_hash(self.recorded)
        self.claims = Claims(out_dir)
        self.videos: dict[int, _Video] = {}
        self.summary = Summary()
        self.place = {"share": list(share), "host": HOST, "pid": os.getpid()}
        self.place.update({k.lower(): int(os.environ[k]) for k in ("RANK", "WORLD_SIZE") if k in os.environ})

    def receive(self, message: dict, bar) -> Outcome | None:
        index, kind = int(message["index"]), message["kind"]
        entry = self.entries[index]
        if kind in ("skipped", "busy"):
            return Outcome(entry.source, kind)
        if kind == "refused":
            return Outcome(entry.source, "failed", reason=message["reason"])
        video = self.videos.get(index)
        if video is None:
            video = self.videos[index] = _Video(entry, self)
        try:
            if kind == "frames":
                video.push(message)
                bar.set_postfix_str(f"{entry.name}: {video.rows} clips", refresh=False)
                return None
            self.claims.adopt(entry.name, message["token"])
            if kind == "failed":
                raise ConversionError(None, message["reason"])
            return video.finish(message)
        except ConversionError as err:
            video.abort()
            reason = str(err)
            self._log(entry, "failed", video, message, reason=reason)
            return Outcome(entry.source, "failed", reason=reason)
        finally:
            if kind != "frames":
                self.videos.pop(index, None)
                self.claims.release(entry.name)

    def _log(self, entry: Entry, status: str, video: _Video, message: dict, **extra) -> None:
        seconds = {**message.get("seconds", {}), "model": video.model_seconds}
        record = {
            "video": str(entry.source),
            "name": entry.name,
            "status": status,
            "frames": int(message.get("frames", video.frames)),
            "fps": "native" if self.settings.fps is None else self.settings.fps,
            "rotation": message.get("rotation", ""),
            "clips": video.rows,
            "seconds": {k: round(float(v), 3) for k, v in seconds.items()},
            "settings": self.hash,
            **self.place,
            **extra,
        }
        manifest.append(self.out_dir, record)

    def close(self) -> None:
        """After an error: drop the videos in flight (their temporaries and claims)."""
        for video in self.videos.values():
            video.abort()
        self.claims.close()


class _Video:
    """One video in flight: its windows, batches through the model, and writers."""

    def __init__(self, entry: Entry, run: _Run) -> None:
        self.entry, self.run = entry, run
        s = run.settings
        self.windows: Windows = Windows(s.clip, s.stride, None if s.drop_last else s.clip, s.window)
        self.pending: list[Window] = []
        self.spans: list[Window] = []
        self.times: list[tuple[float, float]] = []
        self.frames = self.rows = 0
        self.model_seconds = 0.0
        self.channels: dict[str, int] = {}
        stem = run.out_dir / entry.name
        stem.parent.mkdir(parents=True, exist_ok=True)
        self.stem = stem
        self.writer = NpyWriter(stem.with_name(stem.name + ".npy"))
        self.parts = {p: NpyWriter(stem.with_name(f"{stem.name}.{p}.npy")) for p in run.parts}
        run.out_dir.joinpath(entry.name + ".json").unlink(missing_ok=True)

    def push(self, message: dict) -> None:
        items = {s: _array(a) for s, a in message["items"].items()}
        streams = list(items)
        count = len(message["times"])
        self.times += [(float(a), float(b)) for a, b in message["times"]]
        for i in range(count):
            self.pending += self.windows.push(tuple(items[s][i] for s in streams))
        self.frames += count
        self._run_batches(final=False)

    def finish(self, message: dict) -> Outcome:
        self.pending += self.windows.finish()
        self._run_batches(final=True)
        s = self.run.settings
        if not self.rows:
            raise ConversionError(
                self.entry.source, "no frames decoded" if not self.frames else "no whole clip (--drop-last)"
            )
        self.writer.close()
        for writer in self.parts.values():
            writer.close()
        shape = [self.rows, *self.writer.shape]
        frames = self.frames
        if s.window == "centered":
            spans = [[w.start, w.stop] for w in self.spans]
            padded = [edge_padded(w.start, s.clip, frames) for w in self.spans]
        else:
            spans = [[w.start, w.stop] for w in self.spans]
            padded = [w.frames < s.clip for w in self.spans]
        record = {
            "video": str(self.entry.source),
            "settings": self.run.recorded,
            "shape": shape,
            "frames": frames,
            "clip_frames": spans,
            "timestamps": [[self.times[a][0], self.times[b - 1][1]] for a, b in spans],
            "padded": padded,
            "rotation": message["rotation"],
            "crops": list(CROP_NAMES[s.crops]),
        }
        if self.run.stream == "joint":
            record["channels"] = self.channels  # each row: the RGB channels first, then the flow ones
        write_atomic(self.stem.with_name(self.stem.name + ".json"), json.dumps(record).encode() + b"\n")
        self.run._log(self.entry, "done", self, message)
        seconds = sum(message["seconds"].values()) + self.model_seconds
        return Outcome(self.entry.source, "done", tuple(shape), frames, seconds, orientation=message["rotation"])

    def abort(self) -> None:
        self.writer.abort()
        for writer in self.parts.values():
            writer.abort()

    def _run_batches(self, final: bool) -> None:
        while len(self.pending) >= self.run.batch or (final and self.pending):
            group, self.pending = self.pending[: self.run.batch], self.pending[self.run.batch :]
            start = time.perf_counter()
            values = forward(self.run.models, group, self.run.settings)
            self.model_seconds += time.perf_counter() - start
            axis = 0 if self.run.settings.crops == 1 else 1
            for row in range(len(group)):
                for s, array in values.items():
                    self.channels[s] = int(array.shape[axis + 1])
                    if s in self.parts:
                        self.parts[s].add(array[row])
                self.writer.add(np.concatenate([array[row] for array in values.values()], axis=axis))
                self.rows += 1
            self.spans += [Window(w.start, w.frames, []) for w in group]


def forward(models: dict[str, torch.nn.Module], group: list[Window], settings: FeatureSettings) -> dict:
    """Per stream, (B, ...) features of B windows of per-frame (crops, 224, 224, C) arrays (one per stream,
    in ``models`` order); with ten crops (B, 10, ...)."""
    values = {}
    for index, (stream, model) in enumerate(models.items()):
        device = next(model.parameters()).device
        crops = [[frame[index][c] for frame in w.items] for w in group for c in range(settings.crops)]
        clip = batch_tensor(crops, device)
        with torch.inference_mode(), run_in(settings.precision, device):
            out = model.endpoints(clip, [settings.endpoint])[settings.endpoint]
        if settings.pool and out.dim() == 5:
            out = out.float().mean(dim=(2, 3, 4))
        out = out.float().cpu().numpy()
        values[stream] = out if settings.crops == 1 else out.reshape(len(group), settings.crops, *out.shape[1:])
    return values


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


def _array(value) -> np.ndarray:
    return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _models(model: torch.nn.Module | dict[str, torch.nn.Module], stream: str) -> dict[str, torch.nn.Module]:
    """``{stream: model}``, RGB first; ``joint`` needs an RGB and a flow model."""
    models = dict(model) if isinstance(model, dict) else {stream: model}
    wanted = ["rgb", "flow"] if stream == "joint" else [stream]
    if sorted(models) != sorted(wanted):
        raise ConversionError(None, f"the {stream} stream needs models {wanted}, got {sorted(models)}")
    return {name: models[name] for name in wanted}


def _weights_id(model: torch.nn.Module) -> str:
    """What the weights were converted from (its sha256 when recorded), so other weights are not skipped."""
    meta = getattr(model, "metadata", {})
    return meta.get("source_sha256") or meta.get("source", "")


def _progress(total: int, enabled: bool):  # a tqdm bar on a terminal (the "video" extra installs tqdm)
    from tqdm import tqdm

    return tqdm(total=total, unit="video", disable=None if enabled else True, dynamic_ncols=True)
