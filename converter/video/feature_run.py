"""The parent's side of ``features.extract``: each video in flight gets its frames from the decoding
workers, cuts them into windows, runs the model one batch of that video's clips at a time, streams the
rows to disk and, once the video ends, writes its JSON and manifest line and removes its claim.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np
import torch

from converter.errors import ConversionError
from converter.precision import precision as run_in
from converter.video import manifest
from converter.video.claims import HOST, Claims
from converter.video.clips import Window, batch_tensor
from converter.video.crops import NAMES as CROP_NAMES
from converter.video.dataset import Entry
from converter.video.feature_outputs import NpyWriter, Outcome, Summary, write_atomic
from converter.video.windows import Windows, edge_padded

if TYPE_CHECKING:
    from converter.video.features import FeatureSettings


class Run:
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
        self.videos: dict[int, VideoInFlight] = {}
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
            video = self.videos[index] = VideoInFlight(entry, self)
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

    def _log(self, entry: Entry, status: str, video: VideoInFlight, message: dict, **extra) -> None:
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

    def close(self, workers_done: bool = True) -> None:
        """After an error: drop the videos in flight (their temporaries and claims); unless the workers
        finished their videos, also the claims they made for this process and had not handed over."""
        for video in self.videos.values():
            video.abort()
        self.claims.close()
        if not workers_done:
            self.claims.release_orphans(entry.name for entry in self.entries)


class VideoInFlight:
    """One video in flight: its windows, batches through the model, and writers."""

    def __init__(self, entry: Entry, run: Run) -> None:
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
        spans = [[w.start, w.stop] for w in self.spans]
        if s.window == "centered":
            padded = [edge_padded(w.start, s.clip, frames) for w in self.spans]
        else:
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


def _array(value) -> np.ndarray:
    return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _weights_id(model: torch.nn.Module) -> str:
    """What the weights were converted from (its sha256 when recorded), so other weights are not skipped."""
    meta = getattr(model, "metadata", {})
    return meta.get("source_sha256") or meta.get("source", "")
