"""Inflate 2D layers into 3D ones and move 2D weights into them, accounting for every tensor.

Structure and weights are two steps, so a 3D model can be rebuilt from its config alone
(``converter.load_model``) and filled from a 2D state_dict later:

* ``inflate_(module, plan)`` swaps, in place, each Conv2d, BatchNorm2d, MaxPool2d, AvgPool2d,
  AdaptiveAvgPool2d and Linear for its 3D counterpart under the same name, so the 3D state_dict has
  the 2D one's keys. ``plan(name, layer)`` gives each layer its ``Time`` (kernel, stride, padding).
  Only layers are inflated: a forward that calls 2D functions (``flatten``, ``F.*pool2d``) needs a
  3D override, as ``ResNet3d`` and ``DenseNet3d`` have.
* ``transfer_weights(state2d, model3d, init)`` fills each 3D tensor from the 2D tensor of the same
  name: every 2D entry used once, every 3D one filled, every shape checked, else ConversionError.

What holds on a "boring" clip (one image repeated T times), in eval mode:

* ``center`` init (Detect-and-Track) puts the 2D kernel in the middle time slice and zeros
  elsewhere, so each output frame sees only one input frame: equal to the 2D output at every frame,
  whatever the time padding.
* ``mean`` init (I3D) spreads kernel / T over the T slices, which sums T equal frames back into the
  2D response where the window holds real frames. Zero time padding breaks that near the clip
  borders (only the interior frames are exact); ``padding_mode="replicate"`` pads with copies of the
  border frames and makes it exact everywhere.
* MaxPool pads with -inf, which never wins over a real frame: exact everywhere. AvgPool with time
  padding counts the padded zeros: exact on interior frames only.
* A Linear becomes a Conv3d with kernel (t, 1, 1) over (B, C, T, 1, 1) maps (a 1x1 conv at each time
  step, I3D's logits layer), so the network can average its logits over time.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from converter.errors import ConversionError, fields

INITS = ("center", "mean")
PADDING_MODES = ("zeros", "replicate")


@dataclass(frozen=True)
class Time:
    """How one layer treats time.

    ``padding=None`` pads ``dilation * (kernel - 1) // 2`` frames on each side, which keeps T at
    stride 1; an even kernel has no such symmetric padding and needs an explicit one.
    ``padding_mode`` applies to convolutions (and inflated Linears): "replicate" pads time with
    copies of the border frames while space stays zero-padded, as in the 2D layer.
    """

    kernel: int = 1
    stride: int = 1
    padding: int | None = None
    dilation: int = 1
    padding_mode: str = "zeros"

    def __post_init__(self) -> None:
        if min(self.kernel, self.stride, self.dilation) < 1 or (self.padding or 0) < 0:
            got = fields(self, "kernel", "stride", "padding", "dilation")
            raise ValueError(f"time kernel, stride and dilation must be >= 1, padding >= 0; got {got}")
        if self.padding is None and self.kernel % 2 == 0:
            raise ValueError(f"even time kernel {self.kernel} needs an explicit padding to place its centre")
        if self.padding_mode not in PADDING_MODES:
            raise ValueError(f"time padding_mode {self.padding_mode!r} is not one of {PADDING_MODES}")

    @property
    def pad(self) -> int:
        return self.dilation * (self.kernel - 1) // 2 if self.padding is None else self.padding


Plan = Callable[[str, nn.Module], Time]


def keep_time(name: str, layer: nn.Module) -> Time:
    """The default plan: time kernel 1 everywhere, so each frame goes through the 2D network alone."""
    return Time()


class ReplicateTimeConv3d(nn.Conv3d):
    """A Conv3d that pads time with copies of the border frames and space with zeros.

    Conv3d's own ``padding_mode="replicate"`` would replicate in space too and change the 2D response.
    """

    def __init__(self, *args: Any, time_padding: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.time_padding = time_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.time_padding
        return super().forward(F.pad(x, (0, 0, 0, 0, pad, pad), mode="replicate"))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, time_padding={self.time_padding} (replicate)"


def _pair(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _conv3d(
    in_channels: int, out_channels: int, kernel: tuple, stride: tuple, space_padding: tuple,
    dilation: tuple, groups: int, bias: bool, time: Time,
) -> nn.Conv3d:  # fmt: skip
    shape = (in_channels, out_channels, kernel, stride)
    if time.padding_mode == "replicate" and time.pad:
        padding = (0, *space_padding)
        return ReplicateTimeConv3d(*shape, padding, dilation, groups, bias, time_padding=time.pad)
    return nn.Conv3d(*shape, (time.pad, *space_padding), dilation, groups, bias)


def _inflate_conv(conv: nn.Conv2d, time: Time) -> nn.Conv3d:
    if conv.padding_mode != "zeros" or conv.padding == "same":
        raise ValueError(f"padding={conv.padding!r}, padding_mode={conv.padding_mode!r} is not supported")
    padding = (0, 0) if conv.padding == "valid" else conv.padding
    return _conv3d(
        conv.in_channels, conv.out_channels, (time.kernel, *conv.kernel_size), (time.stride, *conv.stride),
        padding, (time.dilation, *conv.dilation), conv.groups, conv.bias is not None, time,
    )  # fmt: skip


def _inflate_linear(linear: nn.Linear, time: Time) -> nn.Conv3d:
    return _conv3d(
        linear.in_features, linear.out_features, (time.kernel, 1, 1), (time.stride, 1, 1), (0, 0),
        (time.dilation, 1, 1), 1, linear.bias is not None, time,
    )  # fmt: skip


def _inflate_batch_norm(norm: nn.BatchNorm2d, time: Time) -> nn.BatchNorm3d:
    _require_no_time(time)
    return nn.BatchNorm3d(norm.num_features, norm.eps, norm.momentum, norm.affine, norm.track_running_stats)


def _inflate_max_pool(pool: nn.MaxPool2d, time: Time) -> nn.MaxPool3d:
    # -inf padding and replicated frames give the same maxima, so both padding modes are exact.
    return nn.MaxPool3d(
        (time.kernel, *_pair(pool.kernel_size)), (time.stride, *_pair(pool.stride)),
        (time.pad, *_pair(pool.padding)), (time.dilation, *_pair(pool.dilation)),
        pool.return_indices, pool.ceil_mode,
    )  # fmt: skip


def _inflate_avg_pool(pool: nn.AvgPool2d, time: Time) -> nn.AvgPool3d:
    if time.dilation != 1 or (time.padding_mode == "replicate" and time.pad):
        raise ValueError(f"average pooling takes no time dilation or replicate padding (got {time})")
    # A divisor override divides the window's sum; T equal frames sum to T times the 2D one.
    divisor = None if pool.divisor_override is None else pool.divisor_override * time.kernel
    return nn.AvgPool3d(
        (time.kernel, *_pair(pool.kernel_size)), (time.stride, *_pair(pool.stride)),
        (time.pad, *_pair(pool.padding)), pool.ceil_mode, pool.count_include_pad, divisor,
    )  # fmt: skip


def _inflate_adaptive_avg_pool(pool: nn.AdaptiveAvgPool2d, time: Time) -> nn.AdaptiveAvgPool3d:
    _require_no_time(time)
    return nn.AdaptiveAvgPool3d((None, *_pair(pool.output_size)))  # time is kept; heads average it


def _require_no_time(time: Time) -> None:
    if time != Time(padding_mode=time.padding_mode):
        raise ValueError(f"this layer keeps time and takes no time kernel, stride or padding (got {time})")


_INFLATERS: dict[type, Callable[[Any, Time], nn.Module]] = {
    nn.Conv2d: _inflate_conv,
    nn.Linear: _inflate_linear,
    nn.BatchNorm2d: _inflate_batch_norm,
    nn.MaxPool2d: _inflate_max_pool,
    nn.AvgPool2d: _inflate_avg_pool,
    nn.AdaptiveAvgPool2d: _inflate_adaptive_avg_pool,
}


def inflate_layer(layer: nn.Module, time: Time, name: str = "") -> nn.Module:
    """The 3D counterpart of one supported 2D layer (fresh weights), or ``layer`` itself if it has none.

    Other leaf layers named ``*1d``/``*2d`` and subclasses of the supported ones (whose forward may
    differ) are refused rather than left to break; other layers (ReLU, Dropout, containers) are kept.
    """
    inflater = _INFLATERS.get(type(layer))
    where = f"layer {name!r} ({type(layer).__name__})" if name else type(layer).__name__
    if inflater is None:
        dimensional = type(layer).__name__.endswith(("1d", "2d")) and not any(layer.children())
        if dimensional or isinstance(layer, tuple(_INFLATERS)):
            raise ConversionError(None, f"{where} has no 3D counterpart")
        return layer
    try:
        return inflater(layer, time)
    except ValueError as err:
        raise ConversionError(None, f"{where}: {err}") from None


def inflate_(module: nn.Module, plan: Plan = keep_time) -> nn.Module:
    """Swap every supported 2D layer under ``module`` for its 3D counterpart, in place.

    Returns ``module`` (or the new layer when ``module`` is itself a 2D layer). The new layers have
    fresh weights in torch's default dtype and device; ``transfer_weights`` fills them.
    """
    for parent_name, parent in list(module.named_modules()):
        for child_name, child in list(parent.named_children()):
            name = f"{parent_name}.{child_name}" if parent_name else child_name
            setattr(parent, child_name, inflate_layer(child, plan(name, child), name))
    return inflate_layer(module, plan("", module))


def inflate(module: nn.Module, plan: Plan = keep_time, init: str = "center") -> nn.Module:
    """A 3D copy of a 2D module with its weights transferred; the 2D module is left as it was."""
    model3d = inflate_(copy.deepcopy(module), plan)
    transfer_weights(module.state_dict(), model3d, init)
    return model3d


def inflate_kernel(weight: torch.Tensor, time: int, init: str) -> torch.Tensor:
    """(O, I, kh, kw) conv or (O, I) linear weights -> (O, I, time, kh, kw) or (O, I, time, 1, 1).

    ``center``: the 2D kernel in slice ``time // 2``, zeros elsewhere; ``mean``: the 2D kernel / time
    in every slice. Both sum over time to the 2D kernel, which is what makes a boring clip give the
    2D response.
    """
    if init not in INITS:
        raise ValueError(f"init {init!r} is not one of {INITS}")
    kernel = weight.reshape(*weight.shape[:2], 1, *(weight.shape[2:] or (1, 1)))
    if init == "mean":
        return kernel.expand(-1, -1, time, -1, -1) / time
    inflated = kernel.new_zeros(kernel.shape[0], kernel.shape[1], time, *kernel.shape[3:])
    inflated[:, :, time // 2] = kernel[:, :, 0]
    return inflated


def _fit(value: torch.Tensor, shape: torch.Size, init: str) -> torch.Tensor | None:
    """``value`` as a tensor of ``shape``: itself, or its inflated kernel; None if it cannot be."""
    if value.shape == shape:
        return value
    if value.dim() in (2, 4) and len(shape) == 5 and value.is_floating_point():
        spatial = value.shape[2:] or (1, 1)
        if (*value.shape[:2], *spatial) == (*shape[:2], *shape[3:]):
            return inflate_kernel(value, shape[2], init)
    return None


def transfer_weights(
    state2d: Mapping[str, Any],
    model3d: nn.Module,
    init: str = "center",
    source: str | None = None,
) -> None:
    """Fill every tensor of ``model3d`` from the 2D tensor of the same name; nothing left over.

    3D weights with a time axis get the inflated 2D kernel (``init``), all others a copy. A
    ``num_batches_tracked`` absent from the 2D state (checkpoints from before PyTorch 0.4.1, as
    torchvision's) is set to 0: it plays no part in eval. Raises ConversionError naming ``source``
    and listing the missing, unexpected and mis-shaped names; ``model3d`` is then left untouched.
    """
    if init not in INITS:
        raise ValueError(f"init {init!r} is not one of {INITS}")
    target = model3d.state_dict()
    missing, mismatched, filled = [], [], {}
    for name, slot in target.items():
        value = state2d.get(name)
        if value is None:
            if name.endswith("num_batches_tracked"):
                filled[name] = torch.zeros_like(slot)
            else:
                missing.append(name)
            continue
        fitted = _fit(value, slot.shape, init) if isinstance(value, torch.Tensor) else None
        if fitted is None:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            mismatched.append(f"{name} {shape} vs {tuple(slot.shape)}")
        else:
            filled[name] = fitted
    unexpected = [name for name in state2d if name not in target]
    if missing or unexpected or mismatched:
        problems = [
            _listing(f"missing in the 2D weights for {type(model3d).__name__}", missing),
            _listing("unexpected (no 3D place)", unexpected),
            _listing("shape mismatches (2D vs 3D)", mismatched),
        ]
        raise ConversionError(source, "; ".join(p for p in problems if p))
    model3d.load_state_dict(filled, strict=True)


def _listing(what: str, names: list[str], shown: int = 6) -> str:
    if not names:
        return ""
    more = f", ... {len(names) - shown} more" if len(names) > shown else ""
    return f"{len(names)} {what}: {', '.join(names[:shown])}{more}"
