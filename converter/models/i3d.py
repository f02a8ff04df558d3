"""PyTorch I3D that computes exactly what DeepMind's TensorFlow graph computes.

Built from ``i3d_spec`` (the single description of the architecture); module paths are the TF
scope names, so ``state_dict()`` keys are ``i3d_spec.parameter_shapes()``. Input is (B, C, T, H, W)
in [-1, 1]. Layers keep whatever memory format they are given (``channels_last_3d`` included: on
CUDA, ``model.to(memory_format=torch.channels_last_3d)`` with a channels-last clip runs without
layout conversions), except CPU max-pools, which work in channels-last (see ``MaxPool``).
``fuse()`` gives an inference copy with BatchNorm folded into the convs.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from converter.models import i3d_spec as spec
from converter.models.input_range import exporting, model_input
from converter.models.tf_same import Conv3dSame, MaxPool3dSame

# Worked out once here rather than in forward, so torch.compile traces a constant, not a cached function.
LOGITS_INPUT_SIZES = spec.logits_input_sizes()


class BatchNorm(nn.Module):
    """Sonnet's BatchNorm as I3D uses it: no scale (gamma), offset ``bias`` (beta), eps 1e-3.

    ``momentum`` is PyTorch's (1 - Sonnet's decay 0.999). No ``num_batches_tracked`` buffer, so the
    state_dict holds exactly the three tensors a TF checkpoint has. ``scale=True`` adds a gamma
    ``weight`` (PyTorch fine-tunes train it; a weights file's ``bn_scale`` config asks for it).
    """

    def __init__(self, channels: int, eps: float = 1e-3, momentum: float = 0.001, scale: bool = False) -> None:
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        if scale:
            self.weight = nn.Parameter(torch.ones(channels))
        else:
            self.register_parameter("weight", None)  # as nn.BatchNorm3d(affine=False): no state_dict entry
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        # On CUDA, cuDNN's training backward with no weight but a bias returned an empty bias gradient
        # ("NativeBatchNormBackward0 returned an invalid gradient at index 2", torch 2.11, H200, bf16,
        # channels-last): there a weight of ones (x·1 is exact) takes the weighted path. Not saved.
        self.register_buffer("unit_scale", torch.ones(channels), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.unit_scale if self.weight is None and x.is_cuda else self.weight
        return F.batch_norm(
            x, self.running_mean, self.running_var, weight, self.bias, self.training, self.momentum, self.eps
        )

    def extra_repr(self) -> str:
        affine = "beta only" if self.weight is None else "gamma and beta"
        return f"{self.bias.shape[0]}, eps={self.eps}, momentum={self.momentum}, affine={affine}"


class Unit3D(nn.Module):
    """Conv (TF 'SAME', no bias) -> BatchNorm -> ReLU, as ``conv`` and ``bn`` like the TF scopes."""

    def __init__(self, in_channels: int, unit: spec.Unit, bn_momentum: float) -> None:
        super().__init__()
        self.conv = Conv3dSame(in_channels, unit.out_channels, unit.kernel, unit.stride, bias=False)
        self.bn = BatchNorm(unit.out_channels, momentum=bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In place: neither BatchNorm's nor conv's backward needs the tensor ReLU overwrites.
        return F.relu(self.bn(self.conv(x)), inplace=True)

    def fold_bn(self) -> None:
        """Fold ``bn`` (eval statistics) into ``conv``: weight * s, bias beta - mean * s, s = gamma/sqrt(var + eps).

        Worked out in float64, so the folded unit equals the original to the rounding of its own dtype.
        """
        if not isinstance(self.bn, BatchNorm):
            return
        weight = self.conv.weight
        scale = (self.bn.running_var.double() + self.bn.eps).rsqrt()
        if self.bn.weight is not None:
            scale = scale * self.bn.weight.double()
        folded = weight.double() * scale.view(-1, 1, 1, 1, 1)
        bias = self.bn.bias.double() - self.bn.running_mean.double() * scale
        self.conv.weight = nn.Parameter(folded.to(weight.dtype), requires_grad=weight.requires_grad)
        self.conv.bias = nn.Parameter(bias.to(weight.dtype), requires_grad=weight.requires_grad)
        self.bn = nn.Identity()


class MaxPool(MaxPool3dSame):
    """TF 'SAME' max-pool that on CPU pools in ``channels_last_3d`` and returns that layout.

    PyTorch's CPU max_pool3d is several times slower on NCDHW than on channels-last tensors (it was
    about 40 % of an I3D forward), and every pool in I3D feeds convolutions, which read channels-last
    input at least as fast: one layout copy in, none back (benchmarks/README.md). Max is order free,
    so the values are bit-identical. Elsewhere (CUDA) it pools in the layout it is given.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return super().forward(x)


def _layer(layer: spec.Unit | spec.MaxPool, in_channels: int, bn_momentum: float) -> nn.Module:
    if isinstance(layer, spec.Unit):
        return Unit3D(in_channels, layer, bn_momentum)
    return MaxPool(layer.kernel, layer.stride)


class Mixed(nn.Module):
    """Inception block: ``Branch_0`` .. ``Branch_3`` run on the same input, concatenated on channels."""

    def __init__(self, in_channels: int, mixed: spec.Mixed, bn_momentum: float) -> None:
        super().__init__()
        for index, branch in enumerate(mixed.branches):
            layers: OrderedDict[str, nn.Module] = OrderedDict()
            channels = in_channels
            for name, layer in branch:
                layers[name] = _layer(layer, channels, bn_momentum)
                channels = spec.out_channels(layer, channels)
            self.add_module(f"Branch_{index}", nn.Sequential(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.children()], dim=1)


class LogitsConv(nn.Module):
    """TF's ``Logits/Conv3d_0c_1x1``: a Unit3D without BatchNorm and ReLU, so only ``conv`` (with bias)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = Conv3dSame(in_channels, num_classes, (1, 1, 1), (1, 1, 1), bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Logits(nn.Module):
    """avg-pool [2, 7, 7] VALID -> dropout -> 1x1x1 conv with bias -> drop H, W -> mean over time."""

    def __init__(self, in_channels: int, num_classes: int, logits: spec.Logits, dropout: float) -> None:
        super().__init__()
        self.logits_spec = logits
        self.dropout = nn.Dropout(dropout)
        self.add_module(logits.conv_name, LogitsConv(in_channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool3d(x, self.logits_spec.pool_kernel, stride=1)
        x = getattr(self, self.logits_spec.conv_name)(self.dropout(x))
        return x.squeeze(4).squeeze(3).mean(dim=2)


class InceptionI3d(nn.Module):
    """Inception-v1 I3D ("Quo Vadis", Carreira & Zisserman 2017) with TF-exact padding and names.

    Input: float of any width in [-1, 1], cast to the model's dtype (outside the range is a ValueError unless
    ``check_input_range`` is False), or uint8 pixels, mapped by the recipe's x / 127.5 - 1; any other dtype is
    a ValueError naming it (see ``input_range``).
    """

    check_input_range: bool = True

    def __init__(
        self,
        num_classes: int = 400,
        in_channels: int = 3,
        dropout: float = 0.0,
        bn_momentum: float = 0.001,
        bn_scale: bool = False,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.dropout = dropout
        self.bn_scale = bn_scale
        channels = in_channels
        for name, layer in spec.LAYERS:
            if isinstance(layer, spec.Mixed):
                module: nn.Module = Mixed(channels, layer, bn_momentum)
            elif isinstance(layer, spec.Logits):
                module = Logits(channels, num_classes, layer, dropout)
            else:
                module = _layer(layer, channels, bn_momentum)
            self.add_module(name, module)
            channels = spec.out_channels(layer, channels, num_classes)
        if bn_scale:  # a trained gamma in every BatchNorm (sources whose weights have one)
            for bn in self.modules():
                if isinstance(bn, BatchNorm):
                    bn.weight = nn.Parameter(torch.ones_like(bn.bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Time-averaged logits (B, num_classes) of a (B, C, T, H, W) clip."""
        return self.endpoints(x, ["Logits"])["Logits"]

    def check_request(self, x: torch.Tensor, names: set[str]) -> None:
        """ValueError, naming what is wrong, for unknown endpoint ``names``, an input that is not
        (B, in_channels, T, H, W), or a size ``Logits`` cannot take (also used by the fast path)."""
        unknown = sorted(names - set(spec.ENDPOINTS))
        if unknown:
            raise ValueError(f"unknown endpoints {unknown}; valid: {', '.join(spec.ENDPOINTS)}")
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input (B, {self.in_channels}, T, H, W), got {tuple(x.shape)}")
        if "Logits" in names:
            self._check_logits_input(x.shape[2], x.shape[3], x.shape[4])

    def endpoints(self, x: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
        """The requested endpoints by TF name (B, C, T, H, W; ``Logits`` is (B, N)), computing no further."""
        wanted = set(names)
        self.check_request(x, wanted)
        if not torch.jit.is_scripting():  # noqa: SIM102 (TorchScript prunes only this exact form)
            if not exporting():
                x = model_input(x, next(self.parameters()).dtype, self.check_input_range)
        found: dict[str, torch.Tensor] = {}
        for name, module in self.named_children():
            if not wanted:
                break
            x = module(x)
            if name in wanted:
                found[name] = x
                wanted.discard(name)
        return found

    def replace_logits(self, num_classes: int) -> None:
        """Swap the classifier for a freshly initialised one with ``num_classes`` outputs (fine-tuning)."""
        old = self.get_submodule("Logits")
        weight = old.get_submodule(f"{old.logits_spec.conv_name}.conv").weight
        new = Logits(weight.shape[1], num_classes, old.logits_spec, self.dropout)
        self.Logits = new.to(device=weight.device, dtype=weight.dtype)
        self.num_classes = num_classes

    def fuse(self) -> InceptionI3d:
        """An inference copy (eval mode, no gradients) with every BatchNorm folded into its conv.

        One op less per unit and the same outputs to fp32 rounding. Its state_dict has conv biases
        instead of BatchNorm tensors: keep the original for saving and fine-tuning.
        """
        fused = copy.deepcopy(self).eval().requires_grad_(False)
        for module in fused.modules():
            if isinstance(module, Unit3D):
                module.fold_bn()
        return fused

    @staticmethod
    def _check_logits_input(t: int, h: int, w: int) -> None:
        frames, heights, widths = LOGITS_INPUT_SIZES
        if t < frames or h not in heights or w not in widths:
            mixed_5c = spec.endpoint_size("Mixed_5c", (t, h, w))
            raise ValueError(
                f"input of {t}x{h}x{w} (TxHxW) gives Mixed_5c of {'x'.join(map(str, mixed_5c))}, but Logits "
                f"(avg-pool {list(spec.Logits().pool_kernel)} VALID, then TF's spatial squeeze) needs at least "
                f"{frames} frames and height/width in {heights.start}..{heights.stop - 1}; "
                "the other endpoints work for any size"
            )
