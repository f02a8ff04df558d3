"""Dual TV-L1 optical flow in PyTorch, batched, on any device: OpenCV contrib's
``cv::optflow::DualTVL1OpticalFlow`` (``modules/optflow/src/tvl1flow.cpp``, Zach, Pock & Bischof 2007;
Sánchez, Meinhardt-Llopis & Facciolo, IPOL 2013) step for step, because the I3D flow weights were
trained on *that* flow (``flow.py``: clipped to ±20 px, divided by 20).

What is copied from OpenCV, and checked against cv2 block by block (``tests/video/test_video_tvl1.py``):

- the pyramid: ``cv::resize`` INTER_LINEAR by 0.8 (sizes rounded half to even, half-pixel centres,
  edge pixels replicated, no antialias), stopping before a level under 16 px;
- ``centeredGradient``: central differences, one-sided (still halved) on the border;
- the warp: ``cv::remap`` INTER_CUBIC (A = -0.75), BORDER_CONSTANT 0, coordinates rounded to 1/32 px
  (INTER_BITS = 5) up to OpenCV 4, unrounded in OpenCV 5;
- ``cv::medianBlur`` 5 x 5 with replicated borders (exact: a selection network, no sorting);
- the iteration: thresholding (``estimateV``), backward-difference divergence, primal update, forward
  differences, dual update; stopping when the summed squared update of a pair falls to epsilon² H W,
  checked after every inner step. A pair that stops is frozen while the others go on, so a batch gives
  each pair the flow it gets alone.

Not supported: ``gamma`` != 0 and an initial flow (the I3D recipe uses neither).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

REMAP_BITS = 5  # OpenCV 4's INTER_BITS: remap coordinates are rounded to 1/32 px
MIN_LEVEL = 16  # OpenCV stops the pyramid before a level narrower or lower than this
FLT_EPSILON = float(torch.finfo(torch.float32).eps)


@dataclass(frozen=True)
class TVL1Params:
    """``cv2.optflow.DualTVL1OpticalFlow_create()``'s defaults (OpenCV 4.x and 5.0; the warp as in 4.x)."""

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    median_filtering: int = 5
    remap_bits: int | None = REMAP_BITS  # OpenCV <= 4.x; None for OpenCV 5's unrounded remap

    def __post_init__(self) -> None:
        problems = {
            "tau, lambda_, theta must be > 0": min(self.tau, self.lambda_, self.theta) <= 0,
            "nscales, warps, inner_iterations, outer_iterations must be >= 1": min(
                self.nscales, self.warps, self.inner_iterations, self.outer_iterations
            )
            < 1,
            "epsilon must be >= 0": self.epsilon < 0,
            "scale_step must be in (0, 1)": not 0 < self.scale_step < 1,
            "median_filtering must be 5, or 0 or 1 for none": self.median_filtering not in (0, 1, 5),
            "remap_bits must be None or 1..10": self.remap_bits is not None and not 1 <= self.remap_bits <= 10,
        }
        bad = [message for message, failed in problems.items() if failed]
        if bad:
            raise ValueError(f"bad TV-L1 parameters: {'; '.join(bad)}")

    @classmethod
    def like_opencv(cls, version: str) -> TVL1Params:
        """The defaults of the OpenCV ``version`` given (e.g. ``cv2.__version__``): OpenCV 5 rewrote
        ``remap``, which no longer rounds coordinates to 1/32 px."""
        return cls(remap_bits=None if int(version.split(".")[0]) >= 5 else REMAP_BITS)


# ---------------------------------------------------------------- pyramid resize (cv::resize INTER_LINEAR)


def level_sizes(height: int, width: int, nscales: int = 5, scale_step: float = 0.8) -> list[tuple[int, int]]:
    """Pyramid sizes, finest first: each level ``round(size * scale_step)`` (C's ``lrint``, half to even),
    stopping before a level under 16 px as OpenCV does."""
    sizes = [(height, width)]
    for _ in range(1, nscales):
        h, w = sizes[-1]
        h, w = round(h * scale_step), round(w * scale_step)
        if h < MIN_LEVEL or w < MIN_LEVEL:
            break
        sizes.append((h, w))
    return sizes


@lru_cache(maxsize=64)
def _linear_taps(src: int, dst: int, scale: float) -> tuple[list[int], list[float]]:
    """OpenCV's per-output source index and fraction: ``fx = (float)((d + 0.5) * scale - 0.5)``,
    floor, clamped to the edge with a zero fraction."""
    index, frac = [], []
    for d in range(dst):
        f = (d + 0.5) * scale - 0.5
        s = math.floor(f)
        f = float(torch.tensor(f - s, dtype=torch.float32))
        if s < 0:
            s, f = 0, 0.0
        if s >= src - 1:
            s, f = src - 1, 0.0
        index.append(s)
        frac.append(f)
    return index, frac


def _resize_axis(x: torch.Tensor, dim: int, size: int, scale: float) -> torch.Tensor:
    index, frac = _linear_taps(x.shape[dim], size, scale)
    i0 = torch.tensor(index, device=x.device)
    i1 = torch.clamp(i0 + 1, max=x.shape[dim] - 1)
    shape = [1] * x.dim()
    shape[dim] = size
    w1 = torch.tensor(frac, dtype=x.dtype, device=x.device).view(shape)
    w0 = (1 - w1).view(shape)  # float32 1 - fx, as OpenCV's cbuf[0]
    return x.index_select(dim, i0) * w0 + x.index_select(dim, i1) * w1


def resize_linear(x: torch.Tensor, size: tuple[int, int], inv_scale: tuple[float, float] | None = None) -> torch.Tensor:
    """``cv::resize(..., INTER_LINEAR)`` of float32 images ``[..., H, W]`` to ``size`` = (h, w).

    ``inv_scale`` = (fy, fx) as passed to OpenCV (the pyramid passes 0.8, 0.8); ``None`` means
    ``size / input size``, OpenCV's choice when given ``dsize``. Rows are interpolated first, as in
    OpenCV's horizontal-then-vertical pass."""
    h, w = size
    fy, fx = inv_scale if inv_scale is not None else (h / x.shape[-2], w / x.shape[-1])
    x = _resize_axis(x, x.dim() - 1, w, 1.0 / fx)
    return _resize_axis(x, x.dim() - 2, h, 1.0 / fy)


# ---------------------------------------------------------------- derivatives


def centered_gradient(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """OpenCV's ``centeredGradient`` of ``[..., H, W]``: 0.5 (x[i+1] - x[i-1]) inside and 0.5 times the
    one-sided difference on the border. Returns (d/dx, d/dy)."""
    p = torch.cat([x[..., :, :1], x, x[..., :, -1:]], dim=-1)
    dx = 0.5 * (p[..., :, 2:] - p[..., :, :-2])
    p = torch.cat([x[..., :1, :], x, x[..., -1:, :]], dim=-2)
    dy = 0.5 * (p[..., 2:, :] - p[..., :-2, :])
    return dx, dy


def forward_gradient(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``forwardGradient``: x[i+1] - x[i], zero in the last column (d/dx) or row (d/dy)."""
    ux = F.pad(u[..., :, 1:] - u[..., :, :-1], (0, 1))
    uy = F.pad(u[..., 1:, :] - u[..., :-1, :], (0, 0, 0, 1))
    return ux, uy


def divergence(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """``divergence``: backward differences, the missing neighbour outside the image taken as 0."""
    dx = px - F.pad(px[..., :, :-1], (1, 0))
    dy = py - F.pad(py[..., :-1, :], (0, 0, 1, 0))
    return dx + dy


# ---------------------------------------------------------------- bicubic warp (cv::remap INTER_CUBIC)


def warp_cubic(images: torch.Tensor, flow: torch.Tensor, remap_bits: int | None = REMAP_BITS) -> torch.Tensor:
    """``cv::remap(image, x + u, y + v, INTER_CUBIC, BORDER_CONSTANT 0)`` for images ``[B, C, H, W]``
    and flow ``[B, 2, H, W]`` (pixels, x then y), float32; out-of-image taps read 0.

    ``remap_bits=5``: OpenCV up to 4.x, the float32 coordinates rounded to 1/32 px (half to even);
    ``None``: OpenCV 5, whose rewritten remap uses them as they are. The bicubic (A = -0.75, zero
    padding) is ``grid_sample``'s, in float64 so that normalising the coordinates to [-1, 1] and back
    loses nothing (in float32 that alone moves a sample by up to 1e-4 px, 100x OpenCV's rounding)."""
    h, w = images.shape[-2:]
    x = torch.arange(w, device=images.device, dtype=torch.float32) + flow[:, 0]
    y = torch.arange(h, device=images.device, dtype=torch.float32)[:, None] + flow[:, 1]
    if remap_bits is not None:
        x = torch.round(x * (1 << remap_bits)) / (1 << remap_bits)
        y = torch.round(y * (1 << remap_bits)) / (1 << remap_bits)
    x, y = x.double(), y.double()
    grid = torch.stack([x * (2 / max(w - 1, 1)) - 1, y * (2 / max(h - 1, 1)) - 1], dim=-1)
    out = F.grid_sample(images.double(), grid, mode="bicubic", padding_mode="zeros", align_corners=True)
    return out.float()


# ---------------------------------------------------------------- median (cv::medianBlur 5 x 5)


def _batcher(n: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sorting network on n wires (comparators touching padding dropped:
    padding wires hold +inf, which such comparators leave in place)."""
    size = 1 << max(n - 1, 0).bit_length()
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    a, b = i + j, i + j + k
                    if a // (2 * p) == b // (2 * p) and b < n:
                        pairs.append((a, b))
            k //= 2
        p *= 2
    return pairs


Ops = tuple[tuple[int, int, int | None, int | None], ...]


@lru_cache(maxsize=16)
def _plan(known: tuple[tuple[bool, ...], ...], wanted: tuple[int, ...]) -> tuple[Ops, tuple[int, ...]]:
    """Batcher's network on n values with ``known[a][b]`` (value a <= value b for sure), simplified:
    a comparator whose order is known is skipped (or is a relabelling), what each new min and max is
    known to be ordered with is carried forward, and only the min or max halves that ``wanted`` (order
    statistics, 0 = smallest) depend on are kept. Returns ``(slot a, slot b, min slot or None, max slot
    or None)`` per comparator, new slots numbered from n, and the slots of the wanted statistics."""
    le = [list(row) for row in known]
    wires = list(range(len(le)))
    ops = []
    for a, b in _batcher(len(wires)):
        sa, sb = wires[a], wires[b]
        if le[sa][sb]:
            continue
        if le[sb][sa]:
            wires[a], wires[b] = sb, sa
            continue
        lo, hi, n = len(le), len(le) + 1, len(le) + 2
        for row in le:
            row += [False, False]
        le += [[False] * n, [False] * n]
        for x in range(n - 2):
            le[lo][x], le[x][lo] = le[sa][x] or le[sb][x], le[x][sa] and le[x][sb]
            le[hi][x], le[x][hi] = le[sa][x] and le[sb][x], le[x][sa] or le[x][sb]
        le[lo][hi] = le[lo][lo] = le[hi][hi] = True
        ops.append((sa, sb, lo, hi))
        wires[a], wires[b] = lo, hi
    needed, kept = {wires[i] for i in wanted}, []
    for sa, sb, lo, hi in reversed(ops):
        if lo in needed or hi in needed:
            kept.append((sa, sb, lo if lo in needed else None, hi if hi in needed else None))
            needed |= {sa, sb}
    return tuple(reversed(kept)), tuple(wires[i] for i in wanted)


def _select(
    values: list[torch.Tensor], wanted: list[int], known: tuple[tuple[bool, ...], ...] | None = None
) -> list[torch.Tensor]:
    """The order statistics ``wanted`` (0 = smallest) of equal-shaped tensors, element-wise, by min/max
    (``_plan``; ``known``: pairs already ordered, a <= b)."""
    n = len(values)
    known = known or tuple(tuple(a == b for b in range(n)) for a in range(n))
    ops, outputs = _plan(known, tuple(wanted))
    slots = dict(enumerate(values))
    for sa, sb, lo, hi in ops:
        if lo is not None:
            slots[lo] = torch.minimum(slots[sa], slots[sb])
        if hi is not None:
            slots[hi] = torch.maximum(slots[sa], slots[sb])
    return [slots[i] for i in outputs]


# After sorting the 5 x 5 window's columns and then its rows, entry (i, j) has at least (i+1)(j+1)
# entries <= it and (5-i)(5-j) >= it: the median is the 7th smallest of the 13 entries below, 6 others
# being certainly smaller. They are known to grow down and right; in this order the network for their
# median needs 32 min/max instead of 66 (the best of 3000 random orders).
_ROW_RANKS = {0: [3, 4], 1: [2, 3, 4], 2: [1, 2, 3], 3: [0, 1, 2], 4: [0, 1]}
_CANDIDATES = ((4, 1), (3, 1), (3, 0), (4, 0), (1, 3), (1, 4), (0, 3), (0, 4), (2, 3), (1, 2), (2, 1), (3, 2), (2, 2))
_KNOWN = tuple(tuple(i <= k and j <= m for k, m in _CANDIDATES) for i, j in _CANDIDATES)


def median5(x: torch.Tensor) -> torch.Tensor:
    """``cv::medianBlur(x, 5)`` of float32 ``[..., H, W]``: the exact median of each 5 x 5 window,
    borders replicated. On CPU, OpenCV's own (``cv2.medianBlur``, image by image: ~100x faster than
    the network, the same values, tests/video/test_video_tvl1.py); elsewhere, or without OpenCV,
    ``median5_network``."""
    if x.device.type == "cpu" and x.dtype == torch.float32 and x.numel() and not x.requires_grad:
        try:
            import cv2
        except ImportError:
            return median5_network(x)
        images = x.detach().contiguous().numpy().reshape(-1, *x.shape[-2:])
        out = torch.empty_like(x, memory_format=torch.contiguous_format)
        blurred = out.numpy().reshape(images.shape)
        for image, result in zip(images, blurred, strict=True):
            cv2.medianBlur(image, 5, dst=result)
        return out
    return median5_network(x)


def median5_network(x: torch.Tensor) -> torch.Tensor:
    """``median5`` as min/max of shifted tensors (a selection network, exact, no sorting): any device."""
    h, w = x.shape[-2:]
    shape = x.shape
    p = F.pad(x.reshape(-1, 1, h, w), (2, 2, 2, 2), mode="replicate").view(*shape[:-2], h + 4, w + 4)
    columns = _select([p[..., i : i + h, :] for i in range(5)], list(range(5)))
    entries = {}
    for rank, wanted in _ROW_RANKS.items():
        ranked = _select([columns[rank][..., j : j + w] for j in range(5)], wanted)
        entries |= {(rank, j): value for j, value in zip(wanted, ranked, strict=True)}
    return _select([entries[c] for c in _CANDIDATES], [6], _KNOWN)[0]


# ---------------------------------------------------------------- the solver


def tvl1(frames0: torch.Tensor, frames1: torch.Tensor, params: TVL1Params = TVL1Params()) -> torch.Tensor:
    """Dual TV-L1 flow from ``frames0`` to ``frames1``: ``[B, H, W]`` grey levels (0..255, any real dtype,
    tensors on any device or numpy arrays) -> ``[B, H, W, 2]`` float32 flow in pixels (x right, y down),
    what ``cv2.optflow.DualTVL1OpticalFlow_create().calc(frames0[i], frames1[i], None)`` gives for uint8
    input (OpenCV multiplies float input by 255 first: pass it x / 255 for grey levels x).

    Raises ValueError for mismatched shapes, images smaller than 3 x 3 or non-finite values."""
    frames0, frames1 = torch.as_tensor(frames0), torch.as_tensor(frames1)
    if frames0.shape != frames1.shape or frames0.dim() != 3:
        raise ValueError(
            "TV-L1 needs two [B, H, W] batches of the same shape, "
            f"got {tuple(frames0.shape)} and {tuple(frames1.shape)}"
        )
    b, h, w = frames0.shape
    if h < 3 or w < 3:
        raise ValueError(f"TV-L1 needs images of at least 3 x 3 pixels, got {h} x {w}")
    i0 = frames0.to(torch.float32)
    i1 = frames1.to(torch.float32)
    if not bool(torch.isfinite(i0).all() & torch.isfinite(i1).all()):
        raise ValueError("TV-L1 needs finite grey levels; the frames hold NaN or infinity")
    sizes = level_sizes(h, w, params.nscales, params.scale_step)
    pyramid = [(i0, i1)]
    for size in sizes[1:]:
        step = (params.scale_step, params.scale_step)
        pyramid.append(tuple(resize_linear(img, size, step) for img in pyramid[-1]))
    u = torch.zeros(b, 2, *sizes[-1], dtype=torch.float32, device=i0.device)
    for level in range(len(sizes) - 1, -1, -1):
        u = _one_scale(*pyramid[level], u, params)
        if level:
            u = resize_linear(u, sizes[level - 1]) * torch.tensor(1 / params.scale_step, dtype=torch.float32)
    return u.permute(0, 2, 3, 1).contiguous()


def _one_scale(i0: torch.Tensor, i1: torch.Tensor, u: torch.Tensor, params: TVL1Params) -> torch.Tensor:
    """``procOneScale`` for a batch: ``warps`` warps, each iterating every pair until it converges."""
    b, h, w = i0.shape
    dx, dy = centered_gradient(i1)
    stack = torch.stack([i1, dx, dy], dim=1)  # (B, 3, H, W): the image and its gradient, warped together
    p = torch.zeros(b, 2, 2, h, w, dtype=torch.float32, device=i0.device)  # [pair, component, d/dx|d/dy]
    u = u.clone()
    for _ in range(params.warps):
        warped = warp_cubic(stack, u, params.remap_bits)
        i1w, gradient = warped[:, :1], warped[:, 1:].contiguous()  # (B, 1, H, W), (B, 2, H, W)
        grad = gradient[:, :1] * gradient[:, :1] + gradient[:, 1:] * gradient[:, 1:]
        rho_c = i1w - gradient[:, :1] * u[:, :1] - gradient[:, 1:] * u[:, 1:] - i0[:, None]
        _Warp(u, p, gradient, grad, rho_c, params).run()
    return u


def _f32(x: float) -> float:
    return float(torch.tensor(x, dtype=torch.float32))


class _Warp:
    """One warp's outer x inner iterations, in place on ``u`` [B, 2, H, W] and ``p`` [B, 2, 2, H, W].

    The pairs still iterating are kept compact (gathered out of the batch); a pair whose update falls
    to the threshold is written back and left alone, as OpenCV leaves it when run on that pair alone."""

    def __init__(self, u, p, gradient, grad, rho_c, params: TVL1Params) -> None:
        self.u, self.p, self.params = u, p, params
        self.l_t = _f32(params.lambda_ * params.theta)
        self.taut = _f32(params.tau / params.theta)
        self.theta = _f32(params.theta)
        self.threshold = _f32(params.epsilon**2 * u.shape[-2] * u.shape[-1])
        # estimateV's three cases as one clamp: -rho / grad within +-l_t; where grad <= FLT_EPSILON
        # OpenCV thresholds at +-l_t unless |rho| <= l_t grad (then 0): dividing by a tiny grad does that
        # up to rho below 1e-30.
        neg_grad = torch.where(grad > FLT_EPSILON, -grad, -1e-30)
        self.active = torch.arange(u.shape[0], device=u.device)
        self.state = [u, p, gradient, rho_c, neg_grad]

    def run(self) -> None:
        params = self.params
        for _ in range(params.outer_iterations):
            if params.median_filtering > 1:
                self.state[0] = median5(self.state[0])
            self._buffers()
            for _ in range(params.inner_iterations):
                going = self._step() > self.threshold
                if not bool(going.all()):
                    self._retire(~going)
                    if not bool(going.any()):
                        return
                    self.active = self.active[going]
                    self.state = [t[going] for t in self.state]
                    self._buffers()
        self._retire(torch.ones_like(self.active, dtype=torch.bool))

    def _retire(self, done: torch.Tensor) -> None:
        index = self.active[done]
        self.u[index] = self.state[0][done]
        self.p[index] = self.state[1][done]

    def _buffers(self) -> None:
        u = self.state[0]
        self.div = torch.empty_like(u)
        self.div_y = torch.empty_like(u)
        self.du = torch.zeros_like(self.state[1])  # forward differences; zero in the last column / row

    def _step(self) -> torch.Tensor:
        """One inner iteration: ``estimateV``, ``divergence``, ``estimateU`` (returning each pair's
        summed squared update), ``forwardGradient``, ``estimateDualVariables``; ``u`` and ``p`` in place."""
        u, p, gradient, rho_c, neg_grad = self.state
        rho = torch.addcmul(rho_c, gradient[:, :1], u[:, :1]).addcmul_(gradient[:, 1:], u[:, 1:])
        fi = torch.div(rho, neg_grad).clamp_(-self.l_t, self.l_t)
        v = torch.addcmul(u, fi, gradient)
        px, py, div, div_y = p[:, :, 0], p[:, :, 1], self.div, self.div_y
        torch.sub(px[..., 1:], px[..., :-1], out=div[..., 1:])
        div[..., :1] = px[..., :1]
        torch.sub(py[..., 1:, :], py[..., :-1, :], out=div_y[..., 1:, :])
        div_y[..., :1, :] = py[..., :1, :]
        div.add_(div_y)
        new = v.add_(div, alpha=self.theta)
        change = torch.sub(new, u).view(u.shape[0], 1, -1)
        error = torch.bmm(change, change.transpose(1, 2)).view(-1)
        u.copy_(new)
        du = self.du
        torch.sub(u[..., 1:], u[..., :-1], out=du[:, :, 0, :, :-1])
        torch.sub(u[..., 1:, :], u[..., :-1, :], out=du[:, :, 1, :-1, :])
        ng = torch.addcmul(du[:, :, 0] * du[:, :, 0], du[:, :, 1], du[:, :, 1]).sqrt_().mul_(self.taut).add_(1)
        p.add_(du, alpha=self.taut).div_(ng.unsqueeze(2))
        return error
