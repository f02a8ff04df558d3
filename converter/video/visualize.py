"""Pictures of I3D: its first-layer filters, and a video's activations at chosen endpoints (GIF + PNG).

Filters: the stem ``Conv3d_1a_7x7`` has 64 kernels of 7×7 pixels over 7 frames, each a tile of an
8×8 grid scaled by its own largest |weight| (grey is 0): RGB kernels in colour, flow kernels with x
in red and y in green. The GIF steps through the 7 taps, earliest frame first; the PNG is the middle tap.

Activations: for each endpoint, the ``channels`` most active channels over the clip (highest mean),
each min-max scaled over the whole clip and drawn with a dark-to-bright colour ramp, in a grid
whose first tile is the input frame. The GIF has one frame per time step of the endpoint, playing
at the video's speed; the PNG is the middle step.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from converter.errors import ConversionError
from converter.models.i3d_spec import ENDPOINTS, STEM_WEIGHT
from converter.video.clips import batch_tensor, iter_inputs

STEM = STEM_WEIGHT.split(".")[0]
TILE = 56  # pixels a small map or kernel is scaled up to (nearest neighbour)
# Dark to bright (close to matplotlib's "inferno"), interpolated to 256 levels.
RAMP = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float64)
LUT = np.stack([np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(RAMP)), c) for c in RAMP.T], 1)
LUT = LUT.round().astype(np.uint8)


@dataclass(frozen=True)
class Activations:
    """The pictures written for one endpoint and the channels they show, most active first."""

    endpoint: str
    gif: Path
    png: Path
    channels: list[int]
    shape: tuple[int, ...]


def grid(tiles: np.ndarray, columns: int, gap: int = 2) -> np.ndarray:
    """(N, h, w, 3) uint8 tiles to one image, row by row, ``gap`` white pixels between and around tiles."""
    count, height, width = tiles.shape[:3]
    rows = -(-count // columns)
    image = np.full((rows * (height + gap) + gap, columns * (width + gap) + gap, 3), 255, np.uint8)
    for index, tile in enumerate(tiles):
        top, left = gap + (index // columns) * (height + gap), gap + (index % columns) * (width + gap)
        image[top : top + height, left : left + width] = tile
    return image


def filter_frames(weight: np.ndarray, columns: int = 8) -> list[np.ndarray]:
    """One grid image per time tap of a conv kernel (O, C, T, kH, kW): see the module doc."""
    if weight.ndim != 5 or weight.shape[1] > 3:
        raise ConversionError(None, f"expected a 3D conv kernel (O, C<=3, T, H, W), got shape {weight.shape}")
    out, channels = weight.shape[:2]
    scale = np.abs(weight).reshape(out, -1).max(1).reshape(out, 1, 1, 1, 1)
    unit = weight / np.where(scale > 0, scale, 1)  # [-1, 1] per kernel
    if channels == 1:
        unit = np.repeat(unit, 3, axis=1)
    elif channels == 2:
        unit = np.concatenate([unit, np.zeros_like(unit[:, :1])], axis=1)  # blue stays grey
    pixels = np.clip((unit + 1) * 127.5, 0, 255).round().astype(np.uint8).transpose(2, 0, 3, 4, 1)  # T, O, H, W, 3
    zoom = max(1, TILE // weight.shape[3])
    return [grid(_upscale(taps, zoom), columns) for taps in pixels]


def activation_frames(
    frames: np.ndarray, activation: np.ndarray, channels: int = 16
) -> tuple[list[np.ndarray], list[int]]:
    """Grid images, one per time step of an endpoint's (C, T, H, W) ``activation`` of the uint8 (T0, H0, W0, 3)
    input ``frames``, and the channels shown (most active first)."""
    count, steps, height, _ = activation.shape
    chosen = np.argsort(-activation.reshape(count, -1).mean(1), kind="stable")[:channels]
    maps = activation[chosen]
    low = maps.min(axis=(1, 2, 3), keepdims=True)
    span = maps.max(axis=(1, 2, 3), keepdims=True) - low
    levels = ((maps - low) / np.where(span > 0, span, 1) * 255).round().astype(np.uint8)
    zoom = max(1, round(TILE / height))
    columns = int(np.ceil(np.sqrt(len(chosen) + 1)))
    images = []
    for step in range(steps):
        tiles = _upscale(LUT[levels[:, step]], zoom)
        source = frames[min(len(frames) - 1, int((step + 0.5) * len(frames) / steps))]
        thumb = np.asarray(Image.fromarray(source).resize(tiles.shape[2:0:-1], Image.BILINEAR))
        images.append(grid(np.concatenate([thumb[None], tiles]), columns))
    return images, [int(c) for c in chosen]


def save_filters(model: torch.nn.Module, out_dir: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """``<name>_Conv3d_1a_7x7.gif`` (taps over time) and ``.png`` (middle tap) in ``out_dir``."""
    weight = model.state_dict()[STEM_WEIGHT].float().cpu().numpy()
    images = filter_frames(weight)
    return _save(Path(out_dir) / f"{name}_{STEM}", images, duration_ms=250)


def save_activations(
    video: str | os.PathLike[str],
    model: torch.nn.Module,
    stream: str,
    endpoints: list[str],
    out_dir: str | os.PathLike[str],
    *,
    frames: int = 64,
    channels: int = 16,
    fps: float = 25.0,
    flow_method: str = "tvl1",
    precision: str = "fp32",
    autorotate: bool = True,
) -> list[Activations]:
    """``<video>_<endpoint>.gif``/``.png`` in ``out_dir`` for the first ``frames`` frames of ``video``
    (turned upright unless ``autorotate`` is off), the model run in ``precision``."""
    from converter.precision import precision as run_in

    video = Path(video)
    bad = [e for e in endpoints if e not in ENDPOINTS[:-1]]
    if bad or not endpoints:
        raise ConversionError(None, f"endpoints must be among {', '.join(ENDPOINTS[:-1])}, got {endpoints}")
    if frames < 1 or channels < 1:
        raise ConversionError(None, f"frames and channels must be at least 1, got {frames} and {channels}")
    streams = ("rgb",) if stream == "rgb" else ("rgb", stream)
    decoded = iter_inputs(video, streams, fps=fps, flow_method=flow_method, autorotate=autorotate)
    inputs = list(islice(decoded, frames))
    if not inputs:
        raise ConversionError(video, "no frames decoded")
    shown = np.stack([np.clip((x[0] + 1) * 127.5, 0, 255).round().astype(np.uint8) for x in inputs])
    device = next(model.parameters()).device
    with torch.inference_mode(), run_in(precision, device):
        found = model.endpoints(batch_tensor([[x[-1] for x in inputs]], device), endpoints)
    name = video.name if video.is_dir() else video.stem
    results = []
    for endpoint in endpoints:
        activation = found[endpoint][0].float().cpu().numpy()
        images, chosen = activation_frames(shown, activation, channels)
        duration = 1000 * len(inputs) / (activation.shape[1] * fps)
        gif, png = _save(Path(out_dir) / f"{name}_{endpoint}", images, duration_ms=duration)
        results.append(Activations(endpoint, gif, png, chosen, activation.shape))
    return results


def _upscale(tiles: np.ndarray, zoom: int) -> np.ndarray:
    """(N, h, w, 3) -> (N, h * zoom, w * zoom, 3), nearest neighbour."""
    return tiles.repeat(zoom, axis=1).repeat(zoom, axis=2)


def _save(stem: Path, images: list[np.ndarray], duration_ms: float) -> tuple[Path, Path]:
    """An animated GIF of ``images`` and a PNG of the middle one, each written atomically."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    pictures = [Image.fromarray(image) for image in images]
    gif, png = stem.with_name(stem.name + ".gif"), stem.with_name(stem.name + ".png")
    _write(
        gif,
        lambda f: pictures[0].save(
            f, "GIF", save_all=True, append_images=pictures[1:], duration=max(20, round(duration_ms)), loop=0
        ),
    )
    _write(png, lambda f: pictures[len(pictures) // 2].save(f, "PNG"))
    return gif, png


def _write(path: Path, save) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "wb") as out:
            save(out)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
