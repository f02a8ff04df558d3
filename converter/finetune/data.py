"""Clips of the pre-processed layout, checked up front, and sampled as the I3D recipe trains on them.

Layout (``python -m converter preprocess``): ``<root>/<split>/<class>/<clip>/rgb.npy`` (T, H, W, 3) and
``flow.npy`` (T, H, W, 2), float in [-1, 1], or uint8 (mapped by the recipe's x / 127.5 - 1; a float
file in 0..255 is an error, found from its first, middle and last frames). Every problem (a class
folder that is empty or not in classes.txt, a missing, mis-shaped or out-of-range array) is found by
``find_clips`` before any training starts.

Sampling is a pure function of (seed, epoch, clip index): the same clip gets the same crop in any
process, DataLoader worker or resumed run, which is what makes resuming and torchrun reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

from converter.errors import ConversionError
from converter.models.i3d_spec import logits_input_sizes
from converter.models.input_range import TOLERANCE
from converter.video.preprocess import read_classes

CHANNELS = {"rgb": 3, "flow": 2}
STREAMS = {"rgb": ("rgb",), "flow": ("flow",), "joint": ("rgb", "flow")}


@dataclass(frozen=True)
class Clip:
    """One pre-processed clip: its arrays by stream, its class index and frame count."""

    folder: Path
    label: int
    frames: int
    height: int
    width: int

    def array(self, stream: str) -> Path:
        return self.folder / f"{stream}.npy"


def load_classes(path: str | Path) -> list[str]:
    """The class names of ``classes.txt``, one per line, in label order."""
    classes = read_classes(Path(path))
    if not classes:
        raise ConversionError(path, "lists no classes")
    return classes


def check_clip_size(clip_frames: int, crop: int) -> None:
    """Refuse sizes I3D's logits cannot take (at least 9 frames, 193..224 pixels) before anything runs."""
    frames, heights, widths = logits_input_sizes()
    if clip_frames < frames:
        raise ConversionError(None, f"clip length {clip_frames} is too short: I3D's logits need {frames} frames")
    if crop not in heights or crop not in widths:
        raise ConversionError(
            None, f"crop {crop} does not fit I3D's logits (7x7 after Mixed_5c): use {heights.start}..{heights[-1]}"
        )


def find_clips(
    root: str | Path, split: str, classes: list[str], streams: tuple[str, ...], *, crop: int, every_class: bool
) -> list[Clip]:
    """Every clip of ``root/split`` with its label, all arrays checked; ``every_class``: each class has clips."""
    folder = Path(root) / split
    if not folder.is_dir():
        raise ConversionError(folder, f"no {split} split here (expected <root>/{split}/<class>/<clip>/)")
    index = {name: i for i, name in enumerate(classes)}
    clips: list[Clip] = []
    for class_dir in _visible(folder):
        if not class_dir.is_dir():
            continue
        if class_dir.name not in index:
            raise ConversionError(class_dir, "class not listed in classes.txt")
        clip_dirs = [d for d in _visible(class_dir) if d.is_dir()]
        if not clip_dirs:
            raise ConversionError(class_dir, "empty class folder: no clip folders in it")
        clips += [_clip(d, index[class_dir.name], streams, crop) for d in clip_dirs]
    if not clips:
        raise ConversionError(folder, "no clips")
    missing = sorted(set(classes) - {classes[c.label] for c in clips})
    if every_class and missing:
        raise ConversionError(folder, f"no clips of class {missing[0]!r} ({len(missing)} classes without clips)")
    return clips


def _clip(folder: Path, label: int, streams: tuple[str, ...], crop: int) -> Clip:
    shapes = {}
    for stream in streams:
        path = folder / f"{stream}.npy"
        if not path.is_file():
            raise ConversionError(path, f"missing: the {stream} stream needs it (pre-processing unfinished?)")
        try:
            array = np.load(path, mmap_mode="r")
        except (ValueError, OSError) as err:
            raise ConversionError(path, f"not a readable .npy file: {err}") from None
        if array.ndim != 4 or array.shape[3] != CHANNELS[stream] or array.shape[0] < 1:
            raise ConversionError(path, f"shape {array.shape}, expected (T, H, W, {CHANNELS[stream]}) with T >= 1")
        check_values(path, array)
        if min(array.shape[1:3]) < crop:
            raise ConversionError(path, f"frames of {array.shape[1]}x{array.shape[2]} are smaller than the crop {crop}")
        shapes[stream] = array.shape[:3]
    first, *others = streams
    for other in others:
        if shapes[other] != shapes[first]:
            raise ConversionError(
                folder / f"{other}.npy",
                f"(T, H, W) {shapes[other]} does not match {first}.npy {shapes[first]}; both streams must align",
            )
    frames, height, width = shapes[first]
    return Clip(folder, label, frames, height, width)


def check_values(path: Path, array: np.ndarray) -> None:
    """Refuse a clip array I3D would misread: neither float nor uint8, or float outside [-1, 1] (0..255
    pixels, say), judged from its first, middle and last frames (the arrays may be large and mapped)."""
    if array.dtype == np.uint8:
        return
    if array.dtype.kind != "f":
        raise ConversionError(path, f"dtype {array.dtype}, expected float in [-1, 1] or uint8 pixels")
    sample = np.asarray(array[sorted({0, len(array) // 2, len(array) - 1})], dtype=np.float32)
    low, high = float(sample.min()), float(sample.max())
    if low < -1 - TOLERANCE or high > 1 + TOLERANCE:
        hint = "; it looks like 0..255 pixels: save uint8, or x / 127.5 - 1" if low >= 0 and high > 2 else ""
        raise ConversionError(path, f"values span [{low:.6g}, {high:.6g}], expected [-1, 1]{hint}")


def sample_clip(
    array: np.ndarray, frames: np.ndarray, top: int, left: int, crop: int, *, flip: bool = False, flow: bool = False
) -> torch.Tensor:
    """(C, T, crop, crop) float32 tensor of ``array`` (T, H, W, C): the ``frames`` rows, the crop square at
    (``top``, ``left``), mirrored when ``flip`` (flow's x negated), uint8 mapped by x / 127.5 - 1."""
    chunk = np.array(array[frames, top : top + crop, left : left + crop], dtype=np.float32)
    if array.dtype == np.uint8:
        chunk = chunk / np.float32(127.5) - np.float32(1.0)
    if flip:
        chunk = chunk[:, :, ::-1]
        if flow:
            chunk[..., 0] *= -1
    return torch.from_numpy(np.ascontiguousarray(chunk.transpose(3, 0, 1, 2)))


def centre_clip(array: np.ndarray, clip_frames: int, crop: int) -> torch.Tensor:
    """The evaluation view of a (T, H, W, C) clip: centre ``clip_frames`` frames (looped when shorter), centre crop."""
    total, height, width = array.shape[:3]
    return sample_clip(
        array, window(total, clip_frames, None), _offset(height, crop, None), _offset(width, crop, None), crop
    )


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


class ClipDataset(Dataset):
    """(inputs by stream as (C, T, crop, crop) float32 tensors, label) for each clip.

    Training: a random window of ``clip_frames`` frames (clips shorter than that are looped from a
    random frame), a random ``crop`` square and, with ``flip``, a horizontal flip (flow's x channel
    negated, as motion to the right becomes motion to the left). Evaluation: the centre window and crop.
    """

    def __init__(
        self,
        clips: list[Clip],
        streams: tuple[str, ...],
        clip_frames: int,
        crop: int,
        *,
        train: bool,
        flip: bool = True,
        seed: int = 0,
    ) -> None:
        self.clips, self.streams, self.clip_frames, self.crop = clips, streams, clip_frames, crop
        self.train, self.flip, self.seed = train, flip, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """New random crops each epoch (set before the DataLoader iterator is made: workers copy this)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> tuple[dict[str, torch.Tensor], int]:
        clip = self.clips[index]
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.train else None
        frames = window(clip.frames, self.clip_frames, rng)
        top = _offset(clip.height, self.crop, rng)
        left = _offset(clip.width, self.crop, rng)
        flip = rng is not None and self.flip and bool(rng.integers(2))
        inputs = {}
        for stream in self.streams:
            array = np.load(clip.array(stream), mmap_mode="r")
            inputs[stream] = sample_clip(array, frames, top, left, self.crop, flip=flip, flow=stream == "flow")
        return inputs, clip.label


def window(total: int, length: int, rng: np.random.Generator | None) -> np.ndarray:
    """Indices of ``length`` consecutive frames of a ``total``-frame clip: random (rng) or centred; looped
    when the clip is shorter (from a random frame, or from the first)."""
    if total >= length:
        start = int(rng.integers(total - length + 1)) if rng is not None else (total - length) // 2
        return np.arange(start, start + length)
    start = int(rng.integers(total)) if rng is not None else 0
    return (start + np.arange(length)) % total


def _offset(size: int, crop: int, rng: np.random.Generator | None) -> int:
    return int(rng.integers(size - crop + 1)) if rng is not None else (size - crop) // 2


class ResumableSampler(DistributedSampler):
    """DistributedSampler (seeded shuffle, split over processes) that can skip the first ``start`` samples
    of its epoch, so a run resumed mid-epoch sees exactly the batches the interrupted one had left."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.start = 0

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.start :])

    def __len__(self) -> int:
        return self.num_samples - self.start


def shard(length: int, rank: int, world: int) -> range:
    """Evaluation indices of one process: every ``world``-th clip, no padding, so no clip counts twice."""
    return range(rank, length, world)
