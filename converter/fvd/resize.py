"""TensorFlow 1's ``tf.image.resize_bilinear`` (the FVD recipe's resize) in torch, batched, on any device.

FVD (google-research ``frechet_video_distance/frechet_video_distance.py``, ``preprocess``) resizes every
frame to 224×224 with TF1's defaults ``align_corners=False, half_pixel_centers=False``: the *legacy*
mapping ``src = dst · in / out`` (top-left aligned, no half-pixel offset, no antialiasing), which no mode
of ``torch.nn.functional.interpolate`` reproduces. This follows TF's CPU kernel
(``tensorflow/core/kernels/image/resize_bilinear_op.cc``) step for step in float32: the scale
``in / out`` and each source coordinate rounded to float32, ``lower = floor(src)``,
``upper = min(ceil(src), in - 1)``, and the lerps ``top = tl + (tr - tl)·x``, ``bottom = bl + (br - bl)·x``,
``out = top + (bottom - top)·y`` (bit-identical to TF on CPU in our tests). TorchScript-compatible.
"""

from __future__ import annotations

import torch


def _source_positions(
    in_size: int, out_size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each output index: (lower, upper) source indices and the float32 weight of ``upper``."""
    scale = torch.tensor(float(in_size), dtype=torch.float32) / torch.tensor(float(out_size), dtype=torch.float32)
    src = torch.arange(out_size, dtype=torch.float32, device=device) * scale.to(device)
    floor = torch.floor(src)
    lower = floor.to(torch.long).clamp(min=0)
    upper = torch.ceil(src).to(torch.long).clamp(max=in_size - 1)
    return lower, upper, src - floor


def legacy_resize_bilinear(videos: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize channels-last frames like TF1's ``resize_bilinear(align_corners=False, half_pixel_centers=False)``.

    Args:
        videos: (..., H, W, C) frames of any real dtype (uint8 0..255 or float), any leading dimensions
            (e.g. (N, T, H, W, 3) videos), on any device.
        height, width: output size (≥ 1).

    Returns:
        (..., height, width, C) float32 on the input's device — TF's output dtype for every input dtype.
        Values stay on the input's scale (0..255 in, 0..255 out); equal to TF to float32 rounding.
    """
    if videos.dim() < 3:
        raise ValueError(f"expected (..., H, W, C) frames, got shape {list(videos.shape)}")
    if height < 1 or width < 1:
        raise ValueError(f"output size must be at least 1x1, got {height}x{width}")
    in_h, in_w = videos.shape[-3], videos.shape[-2]
    if in_h < 1 or in_w < 1:
        raise ValueError(f"input frames must be at least 1x1, got {in_h}x{in_w}")
    y0, y1, y_lerp = _source_positions(in_h, height, videos.device)
    x0, x1, x_lerp = _source_positions(in_w, width, videos.device)
    channels = videos.shape[-1]
    count = 1
    for size in videos.shape[:-3]:
        count *= size
    frames = videos.reshape(count, in_h, in_w, channels)
    out = torch.empty((count, height, width, channels), dtype=torch.float32, device=videos.device)
    # About 4 MiB of output at a time: the temporaries stay in cache and memory is bounded by the output.
    step = max(1, (1 << 20) // max(1, height * width * channels))
    for start in range(0, count, step):
        chunk = frames[start : start + step].to(torch.float32)
        _resize_frames(chunk, out[start : start + step], y0, y1, y_lerp, x0, x1, x_lerp)
    return out.reshape(list(videos.shape[:-3]) + [height, width, channels])  # noqa: RUF005 (TorchScript)


def _resize_frames(
    x: torch.Tensor,
    out: torch.Tensor,
    y0: torch.Tensor,
    y1: torch.Tensor,
    y_lerp: torch.Tensor,
    x0: torch.Tensor,
    x1: torch.Tensor,
    x_lerp: torch.Tensor,
) -> None:
    """(F, H, W, C) float32 frames resized into ``out`` (F, height, width, C).

    TF's ``top = tl + (tr - tl)·x`` is the horizontal lerp of input row ``y0``, the same values whichever
    output row asks for it: so each input row is lerped once (H rows, not 2·height), then rows are picked.
    Columns outermost (F, W, H, C) for the column gathers, so that they copy contiguous runs.
    """
    columns = x.transpose(1, 2).contiguous()
    left = columns.index_select(1, x0)
    rows = columns.index_select(1, x1).sub_(left).mul_(x_lerp.view(-1, 1, 1)).add_(left)  # (F, width, H, C)
    rows = rows.transpose(1, 2).contiguous()  # (F, H, width, C)
    top = rows.index_select(1, y0)
    out.copy_(rows.index_select(1, y1).sub_(top).mul_(y_lerp.view(-1, 1, 1)).add_(top))
