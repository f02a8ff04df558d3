"""Deliberate, plausible porting mistakes: the parity gate must catch each of them.

Each function breaks our model in place inside ``stack``; closing the stack undoes it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from unittest import mock

import torch
from torch import nn

from converter.models import tf_same
from converter.models.i3d import BatchNorm


def bn_eps(model: nn.Module, stack: ExitStack) -> None:
    """PyTorch's default BatchNorm eps 1e-5 instead of Sonnet's 1e-3."""
    for module in model.modules():
        if isinstance(module, BatchNorm):
            stack.enter_context(mock.patch.object(module, "eps", 1e-5))


def symmetric_padding(model: nn.Module, stack: ExitStack) -> None:
    """PyTorch-style ``k // 2`` on both sides for odd kernels instead of TF's size-dependent 'SAME'."""
    real = tf_same.same_padding

    def symmetric(size: int, kernel: int, stride: int) -> tuple[int, int]:
        return (kernel // 2, kernel // 2) if kernel % 2 else real(size, kernel, stride)

    stack.enter_context(mock.patch.object(tf_same, "same_padding", symmetric))


def pad_before(model: nn.Module, stack: ExitStack) -> None:
    """TF's odd padding element put before instead of after: same shapes, shifted windows."""
    real = tf_same.same_padding
    stack.enter_context(mock.patch.object(tf_same, "same_padding", lambda size, k, s: real(size, k, s)[::-1]))


def kernel_hw_swapped(model: nn.Module, stack: ExitStack) -> None:
    """A wrong transpose in the mapping (DHWIO → OIDWH): every kernel's H and W exchanged."""
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            swapped = nn.Parameter(module.weight.detach().transpose(3, 4).contiguous(), requires_grad=False)
            stack.enter_context(mock.patch.object(module, "weight", swapped))


def stem_bgr(model: nn.Module, stack: ExitStack) -> None:
    """RGB weights fed BGR (OpenCV's order): the stem's input channels reversed."""
    stem = model.get_submodule("Conv3d_1a_7x7.conv")
    flipped = nn.Parameter(torch.flip(stem.weight.detach(), dims=[1]), requires_grad=False)
    stack.enter_context(mock.patch.object(stem, "weight", flipped))


BREAKAGES: dict[str, Callable[[nn.Module, ExitStack], None]] = {
    "bn_eps_1e-5": bn_eps,
    "symmetric_padding": symmetric_padding,
    "pad_before": pad_before,
    "kernel_hw_swapped": kernel_hw_swapped,
    "stem_bgr": stem_bgr,
}
