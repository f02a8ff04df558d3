"""I3D features of videos: one endpoint's activations for clips of ``clip`` frames every ``stride`` frames.

Each video gives ``<out>/<name>.npy`` (clips × feature) and ``<out>/<name>.json`` (settings and each
clip's frames and start/end seconds at the sampling fps). Frames are streamed through a window of
one clip (``clips.iter_windows``), so memory does not grow with the video. A video shorter than one
clip, and the frames after the last whole clip, make one last clip loop-padded to ``clip`` frames
(its timestamps give the real frames), unless ``drop_last``. Endpoint maps (B, C, T, H, W) are
averaged over T, H and W to (clips, C) unless ``pool`` is off ((clips, C, T, H, W)); ``Logits`` is
(clips, classes). The ``.npy`` is streamed to disk and the ``.json`` written last, both atomically: a
video counts as done when both are there with the same settings; a failed video is reported and
the others go on.

The ``joint`` stream decodes each video once, computes RGB and flow inputs of the same frames, runs
both models on the same clips and writes their features concatenated on the channel axis, RGB
first (Mixed_5c: 1024 + 1024 = 2048 per clip, the two-stream features of action-localisation
work); ``per_stream`` also writes ``<name>.rgb.npy`` and ``<name>.flow.npy``. Clip boundaries and
timestamps are those of a single-stream run.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from converter.errors import ConversionError, fields
from converter.models.i3d_spec import ENDPOINTS
from converter.precision import PRECISIONS
from converter.precision import precision as run_in
from converter.progress import progress as progress_counter
from converter.video.clips import Window, batch_tensor, iter_inputs, iter_windows
from converter.video.decode import Orientation
from converter.video.flow import METHODS
from converter.video.preprocess import write_npy
from converter.video.transforms import MIN_FRAMES


@dataclass(frozen=True)
class FeatureSettings:
    """What a video's features depend on; recorded in its ``.json``."""

    endpoint: str = "Mixed_5c"
    clip: int = 64
    stride: int = 64
    fps: float = 25.0
    pool: bool = True
    drop_last: bool = False
    flow_method: str = "tvl1"
    autorotate: bool = True
    precision: str = "fp32"

    def __post_init__(self) -> None:
        problems = {
            f"endpoint must be one of {', '.join(ENDPOINTS)}": (self.endpoint not in ENDPOINTS, ("endpoint",)),
            "clip and stride must be at least 1": (self.clip < 1 or self.stride < 1, ("clip", "stride")),
            f"Logits need clips of at least {MIN_FRAMES} frames (--clip)": (
                self.endpoint == "Logits" and self.clip < MIN_FRAMES,
                ("clip",),
            ),
            "fps must be positive (timestamps need it)": (not self.fps > 0, ("fps",)),
            f"flow method must be one of {', '.join(METHODS)}": (self.flow_method not in METHODS, ("flow_method",)),
            f"precision must be one of {', '.join(PRECISIONS)}": (self.precision not in PRECISIONS, ("precision",)),
        }
        for reason, (bad, names) in problems.items():
            if bad:
                raise ConversionError(None, f"{reason}; got {fields(self, *names)}")


@dataclass(frozen=True)
class Outcome:
    video: Path
    status: str  # "done", "skipped" or "failed"
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
        done = self.of("done")
        frames, busy = sum(o.frames for o in done), sum(o.seconds for o in done)
        lines = [
            f"{o.video}: {o.shape} features of {o.frames} frames in {o.seconds:.1f} s"
            + (f", frames {o.orientation}" if o.orientation else "")
            for o in done
        ]
        lines.append(
            f"{len(done)} done, {len(self.of('skipped'))} already done, {len(self.of('failed'))} failed "
            f"of {len(self.outcomes)} videos in {self.seconds:.1f} s"
            + (f" ({frames / busy:.1f} frames/s)" if busy else "")
        )
        return lines + [f"failed: {o.reason}" for o in self.of("failed")]


def output_names(videos: Sequence[Path]) -> list[str]:
    """The output stem of each video (its file stem or folder name); two videos may not share one."""
    names = [video.name if video.is_dir() else video.stem for video in videos]
    seen: dict[str, Path] = {}
    for name, video in zip(names, videos, strict=True):
        other = seen.setdefault(name, video)
        if other != video:
            raise ConversionError(video, f"same output name {name!r} as {other}; rename one of them")
    return names


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
) -> Summary:
    """Features of every video into ``out_dir`` with ``model``: an I3D of ``stream`` (on its device), or
    for ``stream`` "joint" ``{"rgb": …, "flow": …}`` (``per_stream``: also each stream's own array)."""
    start = time.perf_counter()
    settings = settings or FeatureSettings()
    if batch < 1:
        raise ConversionError(None, f"batch must be at least 1, got {batch}")
    models = _models(model, stream)
    paths = [Path(v) for v in videos]
    names = output_names(paths)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = Summary()
    bar = progress_counter(len(paths), unit="video", desc="features", enabled=progress)
    try:
        for video, name in zip(paths, names, strict=True):
            bar.set_description(name)
            bar.set_postfix_str("", refresh=False)
            outcome = _one(video, out_dir / name, models, settings, batch, force, per_stream, bar)
            summary.outcomes.append(outcome)
            bar.update(1)
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - start
    return summary


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
    """One feature array per clip, in order, batched on the model's device; ``log`` follows along.
    ``joint``: the RGB and flow features of the clip concatenated on the channel axis, RGB first."""
    for features in iter_stream_features(video, _models(model, stream), settings, batch, log):
        yield np.concatenate(list(features.values()), axis=0)


def iter_stream_features(
    video: Path, models: dict[str, torch.nn.Module], settings: FeatureSettings, batch: int, log: Log
) -> Iterator[dict[str, np.ndarray]]:
    """Per clip, each stream's feature array, from one decode of ``video``."""
    streams = tuple(models)
    devices = {stream: next(model.parameters()).device for stream, model in models.items()}

    def inputs() -> Iterator[tuple[np.ndarray, ...]]:
        for frame in iter_inputs(
            video,
            streams,
            fps=settings.fps,
            flow_method=settings.flow_method,
            autorotate=settings.autorotate,
            orientation=log.orientation,
        ):
            log.frames += 1
            yield frame

    pad_to = None if settings.drop_last else settings.clip
    clips = iter_windows(inputs(), settings.clip, settings.stride, pad_to)
    with torch.inference_mode():
        while group := list(islice(clips, batch)):
            values = {}
            for index, (stream, model) in enumerate(models.items()):
                clip = batch_tensor([[frame[index] for frame in w.items] for w in group], devices[stream])
                with run_in(settings.precision, devices[stream]):
                    out = model.endpoints(clip, [settings.endpoint])[settings.endpoint]
                if settings.pool and out.dim() == 5:
                    out = out.float().mean(dim=(2, 3, 4))
                values[stream] = out.float().cpu().numpy()
            log.windows.extend(Window(w.start, w.frames, []) for w in group)
            for row in range(len(group)):
                yield {stream: array[row] for stream, array in values.items()}


def _models(model: torch.nn.Module | dict[str, torch.nn.Module], stream: str) -> dict[str, torch.nn.Module]:
    """``{stream: model}``, RGB first; ``joint`` needs an RGB and a flow model."""
    models = dict(model) if isinstance(model, dict) else {stream: model}
    wanted = ["rgb", "flow"] if stream == "joint" else [stream]
    if sorted(models) != sorted(wanted):
        raise ConversionError(None, f"the {stream} stream needs models {wanted}, got {sorted(models)}")
    return {name: models[name] for name in wanted}


def _one(
    video: Path,
    stem: Path,
    models: dict[str, torch.nn.Module],
    settings: FeatureSettings,
    batch: int,
    force: bool,
    per_stream: bool,
    bar,
) -> Outcome:
    npy, meta = stem.with_suffix(".npy"), stem.with_suffix(".json")
    stream = "joint" if len(models) > 1 else next(iter(models))
    parts = {s: stem.with_name(f"{stem.name}.{s}.npy") for s in models} if per_stream and len(models) > 1 else {}
    weights = {s: _weights_id(m) for s, m in models.items()}
    recorded = {**asdict(settings), "stream": stream, "weights": weights.get(stream, weights)}
    if stream == "rgb":
        del recorded["flow_method"]  # RGB features do not depend on it
    try:
        if not force and _done(npy, meta, recorded) and all(p.is_file() for p in parts.values()):
            return Outcome(video, "skipped")
        meta.unlink(missing_ok=True)
        start = time.perf_counter()
        log = Log()
        kept: dict[str, list[np.ndarray]] = {s: [] for s in parts}
        channels: dict[str, int] = {}

        def joined() -> Iterator[np.ndarray]:
            for features in iter_stream_features(video, models, settings, batch, log):
                for s, rows in kept.items():
                    rows.append(features[s])
                channels.update((s, int(f.shape[0])) for s, f in features.items())
                yield np.concatenate(list(features.values()), axis=0)

        count = write_npy(npy, _counting(joined(), bar), "float32")
        for s, path in parts.items():
            write_npy(path, kept[s], "float32")
        if not count:
            raise ConversionError(video, "no frames decoded" if not log.frames else "no whole clip (--drop-last)")
        shape = np.load(npy, mmap_mode="r").shape
        fps, windows = settings.fps, log.windows
        record = {
            "video": str(video),
            "settings": recorded,
            "shape": list(shape),
            "frames": log.frames,
            "clip_frames": [[w.start, w.stop] for w in windows],
            "timestamps": [[w.start / fps, w.stop / fps] for w in windows],
            "padded": [w.frames < settings.clip for w in windows],
            "rotation": log.orientation.describe(),
        }
        if stream == "joint":
            record["channels"] = channels  # each row: the RGB channels first, then the flow ones
        _write_atomic(meta, json.dumps(record).encode() + b"\n")
        seconds = time.perf_counter() - start
        return Outcome(video, "done", tuple(shape), log.frames, seconds, orientation=log.orientation.describe())
    except ConversionError as err:
        return Outcome(video, "failed", reason=str(err))


def _weights_id(model: torch.nn.Module) -> str:
    """What the weights were converted from (its sha256 when recorded), so other weights are not skipped."""
    meta = getattr(model, "metadata", {})
    return meta.get("source_sha256") or meta.get("source", "")


def _counting(features: Iterator[np.ndarray], bar) -> Iterator[np.ndarray]:
    for count, feature in enumerate(features, 1):
        bar.set_postfix_str(f"{count} clips", refresh=False)
        yield feature


def _done(npy: Path, meta: Path, recorded: dict) -> bool:
    if not (npy.is_file() and meta.is_file()):
        return False
    try:
        previous = json.loads(meta.read_text(encoding="utf-8"))["settings"]
    except (ValueError, KeyError, TypeError) as err:
        raise ConversionError(meta, f"unreadable ({err}); pass --force to redo this video") from err
    if previous != recorded:
        changed = ", ".join(f"{k} {previous.get(k)!r} -> {v!r}" for k, v in recorded.items() if previous.get(k) != v)
        raise ConversionError(meta, f"done with other settings ({changed}); pass --force to redo it")
    return True


def _write_atomic(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
