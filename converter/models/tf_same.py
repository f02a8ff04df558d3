"""TensorFlow 'SAME' padding for PyTorch 3D conv and max-pool, exact and without needless copies.

TF pads ``total = max((ceil(n / s) - 1) * s + k - n, 0)`` per dimension, the odd element *after*
(``before = total // 2``). That depends on the input size (79 frames is odd), so it is worked out
at run time. The symmetric part goes into the op's own ``padding`` argument; only the asymmetric
remainder costs anything:

* conv: one ``F.pad`` with zeros of the remainder (in I3D only the 3-channel input of Conv3d_1a).
* max-pool with stride >= 2 where only the end needs the extra element: ``ceil_mode=True``, which
  then yields exactly TF's ``ceil(n / s)`` windows at TF's offsets, each clipped to the valid input
  as TF does; max is order free, so this is bit-exact. Otherwise one ``F.pad`` with -inf.

Those choices are Python branches on the input size, which a tracer or exporter would bake in (a model
traced at 16 frames would pad 17 frames wrongly, silently). While one records the model
(``torch.jit.trace``, ``torch.export``, both ONNX exporters) the padding is instead shape arithmetic on
the tensor's sizes (``symbolic_same_padding``) applied as one ``F.pad`` per strided layer, which the
recorded graph then recomputes for every input size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

Triple = tuple[int, int, int]


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding TF 'SAME' applies to one dimension of length ``size``."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def split_padding(sizes: Triple, kernel: Triple, stride: Triple) -> tuple[Triple, Triple, Triple]:
    """TF 'SAME' per (T, H, W) as (symmetric part, extra before, extra after)."""
    (bt, at), (bh, ah), (bw, aw) = (same_padding(n, k, s) for n, k, s in zip(sizes, kernel, stride, strict=True))
    symmetric = (min(bt, at), min(bh, ah), min(bw, aw))
    before = (bt - symmetric[0], bh - symmetric[1], bw - symmetric[2])
    after = (at - symmetric[0], ah - symmetric[1], aw - symmetric[2])
    return symmetric, before, after


def symbolic_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """``same_padding`` as arithmetic only, for a ``size`` that is an int, a SymInt or a traced size.

    No comparison or branch on ``size``, so a tracer records the formula rather than its value. Needs
    ``kernel >= stride`` (true of every I3D layer), where TF's ``max(…, 0)`` never clips.
    """
    if kernel < stride:
        raise ValueError(f"shape-symbolic TF 'SAME' padding needs kernel >= stride, got {kernel} < {stride}")
    total = ((size + stride - 1) // stride - 1) * stride + kernel - size
    before = total // 2
    return before, total - before


def _following_shapes() -> bool:
    """Whether a tracer or exporter is recording: padding must then be worked out from symbolic sizes."""
    return torch.jit.is_tracing() or torch.compiler.is_exporting()


def _symbolic_pad(x: torch.Tensor, kernel: Triple, stride: Triple) -> tuple[list[int] | None, Triple]:
    """``F.pad`` amounts (None when nothing is padded) and the op's own padding, from symbolic sizes.

    A dimension with stride 1 always pads ``kernel - 1`` in total: its symmetric part goes into the op's
    ``padding`` and any odd element to ``F.pad`` as a constant. A strided dimension pads by
    ``symbolic_same_padding``, all of it in ``F.pad``. Whether to pad is decided from kernel and stride
    alone, never from a (symbolic) amount.
    """
    pad: list[int] = []
    symmetric: list[int] = []
    needed = False
    for dim in (2, 1, 0):  # F.pad order: W, H, T
        k, s = kernel[dim], stride[dim]
        if s == 1:
            symmetric.append((k - 1) // 2)
            pad += [0, (k - 1) % 2]
            needed = needed or (k - 1) % 2 == 1
        else:
            pad += list(symbolic_same_padding(x.shape[2 + dim], k, s))
            symmetric.append(0)
            needed = True
    return (pad if needed else None), (symmetric[2], symmetric[1], symmetric[0])


def _pad_arg(before: Triple, after: Triple) -> list[int]:
    """``F.pad`` order: last dimension first, (W before, W after, H before, H after, T before, T after)."""
    return [p for dim in (2, 1, 0) for p in (before[dim], after[dim])]


def _spatial(x: torch.Tensor) -> Triple:
    return x.shape[2], x.shape[3], x.shape[4]


def conv3d_same(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: Triple) -> torch.Tensor:
    """``tf.nn.conv3d(..., padding='SAME')`` on an NCDHW tensor with an OIDHW weight."""
    if _following_shapes():
        pad, symmetric = _symbolic_pad(x, _spatial(weight), stride)
        if pad is not None:
            x = F.pad(x, pad)
        return F.conv3d(x, weight, bias, stride, symmetric)
    symmetric, before, after = split_padding(_spatial(x), _spatial(weight), stride)
    if any(before) or any(after):
        x = F.pad(x, _pad_arg(before, after))
    return F.conv3d(x, weight, bias, stride, symmetric)


def max_pool3d_same(x: torch.Tensor, kernel: Triple, stride: Triple) -> torch.Tensor:
    """``tf.nn.max_pool3d(..., padding='SAME')`` on an NCDHW tensor."""
    if _following_shapes():
        pad, symmetric = _symbolic_pad(x, kernel, stride)
        if pad is not None:
            x = F.pad(x, pad, value=float("-inf"))
        return F.max_pool3d(x, kernel, stride, symmetric)
    symmetric, before, after = split_padding(_spatial(x), kernel, stride)
    if not any(before) and not any(after):
        return F.max_pool3d(x, kernel, stride, symmetric)
    if not any(before) and all(s >= 2 for s, extra in zip(stride, after, strict=True) if extra):
        return F.max_pool3d(x, kernel, stride, symmetric, ceil_mode=True)
    return F.max_pool3d(F.pad(x, _pad_arg(before, after), value=float("-inf")), kernel, stride, symmetric)


class Conv3dSame(nn.Conv3d):
    """``nn.Conv3d`` (same parameters and state_dict) that pads like TF 'SAME'."""

    def __init__(self, in_channels: int, out_channels: int, kernel: Triple, stride: Triple, bias: bool) -> None:
        super().__init__(in_channels, out_channels, kernel, stride, padding=0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv3d_same(x, self.weight, self.bias, self.stride)


class MaxPool3dSame(nn.Module):
    """``nn.MaxPool3d`` that pads like TF 'SAME'."""

    def __init__(self, kernel: Triple, stride: Triple) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool3d_same(x, self.kernel, self.stride)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, padding=TF SAME"
