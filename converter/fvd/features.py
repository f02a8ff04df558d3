"""I3D features for FVD: the original's preprocessing and DeepMind's network, streamed batch by batch.

The recipe (google-research ``frechet_video_distance/frechet_video_distance.py``): videos
(N, T, H, W, 3) in 0..255; every frame resized to 224×224 with TF1's ``resize_bilinear`` defaults
(``resize.legacy_resize_bilinear``); scaled to ``2·x/255 - 1`` in float32; the TF-Hub module
``deepmind/i3d-kinetics-400/1``'s ``default`` output — DeepMind's ``rgb_scratch`` I3D logits averaged
over time (``RGB/inception_i3d/Mean:0``, 400 values, no softmax), which is our model's output. The
original feeds batches of 16; every video is computed independently (BatchNorm in inference mode), so
the batch size changes nothing but float rounding (tested). Videos are read one at a time from their
source and batched with the next ones of the same clip shape, so memory is bounded by the batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from converter.errors import ConversionError
from converter.fvd.protocols import NAMED_SOURCE, Protocol, get_protocol
from converter.fvd.ranges import check_value_range, to_0_255
from converter.fvd.resize import legacy_resize_bilinear
from converter.fvd.sources import VideoSource, open_source
from converter.precision import precision as precision_of
from converter.precision import prepare

SIZE = 224  # the recipe's target_resolution
MIN_FRAMES = 9  # I3D's logits need Mixed_5c to have ≥ 2 frames
PRECISIONS = ("fp32", "tf32", "bf16")  # as converter.precision; only fp32 is the recipe


@dataclass
class Extraction:
    """Features (n, 400) float32 of the videos ``indices`` of a source; ``skipped``: videos too short for
    a clip under a protocol that discards them (StyleGAN-V); ``names``/``offsets``: each row's video (a path
    under a folder, ``file[i]`` in an array) and its clip's first frame."""

    features: np.ndarray
    indices: list[int]
    skipped: list[int] = field(default_factory=list)
    weights_sha256: str = ""
    frames: int = 0
    stride: int = 1
    names: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    protocol: str = "tf"


def load_detector(weights: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu") -> torch.nn.Module:
    """DeepMind's Kinetics-400 RGB I3D from converted weights (default ``rgb_scratch.safetensors`` from ./weights
    or the user cache, see ``weights_lookup``: the TF-Hub module's weights); records their sha256 as
    ``model.weights_sha256``."""
    from converter import weights_lookup
    from converter.api import load_model

    path = (
        Path(weights)
        if weights is not None
        else weights_lookup.find(("rgb_scratch.safetensors",), "FVD weights", "rgb_scratch")
    )
    model = load_model(path, device=device)
    if getattr(model, "in_channels", None) != 3 or getattr(model, "num_classes", None) != 400:
        raise ConversionError(path, "FVD needs an RGB Kinetics-400 I3D (3 input channels, 400 logits)")
    model.weights_sha256 = weights_sha256(model)
    return model


def weights_sha256(model: torch.nn.Module) -> str:
    """sha256 over the state dict (names, dtypes, shapes, bytes in name order): the same weights give the
    same digest whatever file format they came in."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{name}:{array.dtype}:{array.shape}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def preprocess(videos: torch.Tensor) -> torch.Tensor:
    """(B, T, H, W, 3) in 0..255 (any dtype) → (B, 3, T, 224, 224) float32 in [-1, 1], the recipe's steps 1–2."""
    with _one_cpu_thread(videos.device):
        resized = legacy_resize_bilinear(videos, SIZE, SIZE)
        scaled = resized.mul_(2.0).div_(255.0).sub_(1.0)  # the recipe's order, 2. * x / 255. - 1, in place
    return scaled.permute(0, 4, 1, 2, 3)


@contextlib.contextmanager
def _one_cpu_thread(device: torch.device):
    """On CPU, the resize's few dozen memory-bound steps gain little from a second thread and lose much
    when the machine is busy (every step waits for the descheduled thread: 4×16 frames took 0.8 s on two
    threads, 0.05 s on one, load ~3; README-perf.md), so they run on one; restored after."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def i3d_features(
    videos,
    *,
    model: torch.nn.Module | None = None,
    weights: str | os.PathLike[str] | None = None,
    protocol: str | Protocol = "tf",
    frames: int | None = None,
    stride: int | None = None,
    max_videos: int | None = None,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    seed: int = 0,
    progress: bool = False,
    value_range: str = "0-255",
    fake: bool = False,
) -> np.ndarray:
    """FVD's I3D features: (N, 400) float32 logits averaged over time, one row per video in order.

    ``videos``: an (N, T, H, W, 3) array (numpy, memory-mapped, or torch) with values 0..255 (uint8 or
    float; ``value_range="0-1"`` for floats in [0, 1], which are otherwise refused), a ``.npy``/``.npz`` file
    of one, or a folder searched recursively for videos/GIFs/frame folders. ``max_videos`` below N: a
    subset seeded by ``seed`` (``tf``) or the first ones (StyleGAN-V's protocols). Clips: ``frames``
    frames (default: the protocol's — every frame for ``tf``, 16 for ``stylegan-v``) every ``stride``-th
    (default: the protocol's, 1 but for ``fvd2048_128f_subsample8f``),
    from frame 0 (``tf``; StyleGAN-V's generated side, ``fake=True``) or a random offset seeded by ``seed``
    and the video's index (StyleGAN-V's real side).
    ``model`` (from ``load_detector``) or ``weights`` (default ``weights/rgb_scratch.safetensors``).
    ``precision`` ``fp32`` is the recipe (TF32 off on GPU); ``tf32`` and ``bf16`` are faster on GPUs and NOT
    the recipe (see ``converter.precision``).
    Under ``torchrun`` each rank computes its share and every rank returns all rows. Raises
    ConversionError for values outside 0..255, clips under 9 frames, unreadable inputs.
    """
    return extract(
        videos,
        model=model,
        weights=weights,
        protocol=protocol,
        frames=frames,
        stride=stride,
        max_videos=max_videos,
        batch_size=batch_size,
        device=device,
        precision=precision,
        seed=seed,
        progress=progress,
        value_range=value_range,
        fake=fake,
    ).features


def extract(
    videos,
    *,
    model: torch.nn.Module | None = None,
    weights: str | os.PathLike[str] | None = None,
    protocol: str | Protocol = "tf",
    frames: int | None = None,
    stride: int | None = None,
    max_videos: int | None = None,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    seed: int = 0,
    progress: bool = False,
    value_range: str = "0-255",
    fake: bool = False,
) -> Extraction:
    """``i3d_features`` with what the rows are: their video indices, the skipped videos, the weights' sha256."""
    from converter.fvd import distributed

    protocol = get_protocol(protocol)
    if precision not in PRECISIONS:
        raise ConversionError(None, f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    check_value_range(value_range)
    named = (protocol.frames, protocol.stride)
    if protocol.name in NAMED_SOURCE and (frames or protocol.frames, stride or protocol.stride) != named:
        raise ConversionError(
            None,
            f"{protocol.name} is {protocol.frames} frames every {protocol.stride}; drop --frames/--stride "
            "or use --protocol stylegan-v",
        )
    frames = protocol.frames if frames is None else frames
    stride = protocol.stride if stride is None else stride
    max_videos = protocol.max_videos if max_videos is None else max_videos
    if (frames is not None and frames < 1) or stride < 1 or batch_size < 1:
        raise ConversionError(None, f"frames, stride and batch size must be ≥ 1; got {frames}, {stride}, {batch_size}")
    if model is None:
        model = prepare(load_detector(weights, default_device(device)), precision)
    device = next(model.parameters()).device
    source = open_source(videos)
    if len(source) < 1:
        raise ConversionError(source.name, "no videos")
    chosen = select_videos(len(source), max_videos, protocol.video_sampling, seed)
    rank, size = distributed.world()
    mine = distributed.shard(chosen, rank, size)
    offsets: dict[int, int] = {}
    clip_start = protocol.fake_clip_start if fake else protocol.clip_start
    clips = _clips(source, mine, clip_start, protocol.discard_short_videos, frames, stride, seed, offsets)
    indices: list[int] = []
    skipped: list[int] = []
    rows: list[np.ndarray] = []
    with _progress(len(mine), progress and rank == 0, source.name) as bar, precision_of(precision, device):
        for batch_indices, batch in _batches(clips, batch_size, skipped, bar):
            rows.append(_forward(model, batch, device, source.name, batch_indices, value_range))
            indices.extend(batch_indices)
    features = np.concatenate(rows) if rows else np.empty((0, model.num_classes), np.float32)
    starts = np.array([[offsets[i]] for i in indices], np.float64).reshape(-1, 1)
    _, starts = distributed.gather(indices, starts)
    indices, features = distributed.gather(indices, features)
    skipped = sorted(distributed.gather(skipped, np.zeros((len(skipped), 1), np.float32))[0])
    return Extraction(
        features,
        indices,
        skipped,
        getattr(model, "weights_sha256", ""),
        frames or 0,
        stride,
        names=[source.item_name(i) for i in indices],
        offsets=[int(v) for v in starts[:, 0]],
        protocol=protocol.name,
    )


def select_videos(count: int, max_videos: int | None, sampling: str, seed: int) -> list[int]:
    """The indices of the videos a run takes, in order: all of them, the first ``max_videos``
    (``sampling="first"``, StyleGAN-V's ``metric_utils``: ``num_items = min(num_items, max_items)``) or a
    subset of ``max_videos`` drawn without replacement by a generator seeded with ``seed``."""
    if max_videos is None or max_videos >= count:
        return list(range(count))
    if max_videos < 1:
        raise ConversionError(None, f"--max-videos must be ≥ 1, got {max_videos}")
    if sampling == "first":
        return list(range(max_videos))
    return sorted(int(i) for i in np.random.default_rng(seed).choice(count, max_videos, replace=False))


def default_device(device: str | torch.device | None) -> torch.device:
    """``device``, else ``cuda:$LOCAL_RANK`` when CUDA is there (one GPU per torchrun process), else cpu."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def _clips(
    source: VideoSource,
    indices: list[int],
    clip_start: str,
    discard_short: bool,
    frames: int | None,
    stride: int,
    seed: int,
    offsets: dict[int, int],
) -> Iterator[tuple[int, np.ndarray | None]]:
    """(index, clip) per video, its first frame put in ``offsets``; clip None for a video too short under
    a StyleGAN-V protocol (which discards those)."""
    for index, video in source.videos(indices):
        total = video.shape[0]
        span = total if frames is None else (frames - 1) * stride + 1
        if total < span:
            if discard_short:  # StyleGAN-V's discard_short_videos
                yield index, None
                continue
            raise ConversionError(
                f"{source.name}[{index}]", f"{total} frames; clips of {frames} frames every {stride} need {span}"
            )
        offset = 0
        if clip_start == "random":
            offset = int(np.random.default_rng([seed, index]).integers(0, total - span + 1))
        offsets[index] = offset
        clip = video[offset : offset + span : stride]
        if clip.shape[0] < MIN_FRAMES:
            raise ConversionError(
                f"{source.name}[{index}]", f"clip of {clip.shape[0]} frames; I3D's logits need at least {MIN_FRAMES}"
            )
        yield index, clip


def _batches(clips, batch_size: int, skipped: list[int], bar) -> Iterator[tuple[list[int], np.ndarray]]:
    """Consecutive clips of one shape, at most ``batch_size`` at a time."""
    indices: list[int] = []
    batch: list[np.ndarray] = []
    for index, clip in clips:
        bar.update(1)
        if clip is None:
            skipped.append(index)
            continue
        if batch and (clip.shape != batch[0].shape or clip.dtype != batch[0].dtype):
            yield indices, np.stack(batch)
            indices, batch = [], []
        indices.append(index)
        batch.append(clip)
        if len(batch) == batch_size:
            yield indices, np.stack(batch)
            indices, batch = [], []
    if batch:
        yield indices, np.stack(batch)


def _forward(
    model: torch.nn.Module, batch: np.ndarray, device: torch.device, name: str, indices: list[int], value_range: str
) -> np.ndarray:
    x = to_0_255(torch.from_numpy(np.ascontiguousarray(batch)).to(device), value_range, name, indices)
    with torch.no_grad():
        return model(preprocess(x)).float().cpu().numpy()


def _progress(total: int, enabled: bool, name: str):
    from converter.progress import progress

    return progress(total, unit="video", desc=Path(name).name, enabled=enabled)
