"""What an exporter records: I3D up to one endpoint as one ``forward(x)``, and the input sizes it covers.

TF 'SAME' padding is shape arithmetic while an exporter records (``converter.models.tf_same``), so the
graph is right at every size. ``torch.export`` (and the ONNX exporter built on it) adds one more
constraint: it treats every dynamic size as at least 2, so each dimension of every intermediate tensor
must be at least 2 for all inputs it accepts — and I3D's ``Logits`` head makes a tensor of
``Mixed_5c``-frames − 1, which is 1 for 9..16 input frames. ``SymbolicLogits`` computes the same
logits without that tensor, and the dynamic ranges (``input_ranges``) start where every intermediate
size is at least 2 (for ``Logits``, that is every size the eager model accepts).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from converter.models import i3d_spec as spec

DIMENSIONS = ("batch", "time", "height", "width")  # input axes 0, 2, 3, 4; channels (axis 1) is fixed


class SymbolicLogits(nn.Module):
    """``Logits`` (avg-pool [2, 7, 7] VALID, 1x1x1 conv, spatial squeeze, mean over time) for exporters.

    The mean over the T − 1 two-frame windows equals one weighted mean over the T frames (end frames
    weight 1, inner frames 2, over 2(T − 1)), and the conv commutes with it, being affine. So: 7x7
    spatial average (VALID, so a map that is not 7x7 fails as in TF), weighted time mean, then the conv
    as a matrix product. Equal to ``Logits`` up to fp32 rounding (summation order).
    """

    def __init__(self, logits: nn.Module) -> None:
        super().__init__()
        kt, kh, kw = logits.logits_spec.pool_kernel
        if kt != 2:
            raise ValueError(f"SymbolicLogits assumes a time window of 2, got {kt}")
        self.spatial = (1, kh, kw)
        conv = logits.get_submodule(f"{logits.logits_spec.conv_name}.conv")
        self.weight = conv.weight  # shared with the model, (N, C, 1, 1, 1)
        self.bias = conv.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool3d(x, self.spatial, stride=1).squeeze(4).squeeze(3)  # (B, C, T)
        frames = x.shape[2]
        pooled = (2 * x.sum(dim=2) - x[:, :, 0] - x[:, :, -1]) / (2 * (frames - 1))
        return F.linear(pooled, self.weight.flatten(1), self.bias)


class EndpointNet(nn.Module):
    """The model's layers up to ``endpoint`` (sharing its parameters), as one ``forward(x)``.

    ``symbolic_logits`` swaps ``Logits`` for ``SymbolicLogits`` (for ``torch.export`` and ONNX).
    """

    def __init__(self, model: nn.Module, endpoint: str = "Logits", *, symbolic_logits: bool = False) -> None:
        super().__init__()
        if endpoint not in spec.ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; valid: {', '.join(spec.ENDPOINTS)}")
        names = spec.ENDPOINTS[: spec.ENDPOINTS.index(endpoint) + 1]
        layers = OrderedDict((name, model.get_submodule(name)) for name in names)
        if endpoint == "Logits" and symbolic_logits:
            layers["Logits"] = SymbolicLogits(layers["Logits"])
        self.layers = nn.Sequential(layers)
        self.endpoint = endpoint
        self.in_channels: int = model.in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@dataclass(frozen=True)
class Range:
    """Sizes ``low..high`` (inclusive; ``high`` None: unbounded) one input dimension may take."""

    low: int
    high: int | None = None

    def __contains__(self, n: int) -> bool:
        return n >= self.low and (self.high is None or n <= self.high)

    def __str__(self) -> str:
        return f"{self.low}..{self.high}" if self.high is not None else f">= {self.low}"


def _smallest(endpoint: str, axis: int) -> int:
    """Fewest input elements along ``axis`` (0 T, 1 H, 2 W) keeping every tensor up to ``endpoint`` >= 2."""
    n = 2
    while spec.endpoint_size(endpoint, (n, n, n))[axis] < 2:
        n += 1
    return n


def input_ranges(endpoint: str, *, at_least_two: bool) -> dict[str, Range]:
    """Input sizes an export of ``endpoint`` accepts per dimension.

    For ``Logits``, the eager model's (>= 9 frames, height and width 193..224). For the other endpoints,
    any size (>= 1) or, with ``at_least_two`` (torch.export and ONNX), from where no intermediate size
    drops below 2.
    """
    if endpoint == "Logits":
        frames, heights, widths = spec.logits_input_sizes()
        return {
            "batch": Range(1),
            "time": Range(frames),
            "height": Range(heights.start, heights.stop - 1),
            "width": Range(widths.start, widths.stop - 1),
        }
    low = [_smallest(endpoint, axis) if at_least_two else 1 for axis in range(3)]
    return {"batch": Range(1), "time": Range(low[0]), "height": Range(low[1]), "width": Range(low[2])}
