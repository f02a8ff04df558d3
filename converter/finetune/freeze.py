"""Freezing I3D by endpoint: ``train_from`` and every block after it train, every block before is frozen.

Frozen means frozen twice over: no gradient (``requires_grad`` off, so autograd records nothing
there either) and BatchNorm in eval mode, so its running statistics never move. The default,
``Mixed_5b``, trains Mixed_5b, Mixed_5c and the new logits: what the re-trainable I3D project's
"freeze the first 15 of its 20 top-level modules" amounts to.
"""

from __future__ import annotations

from torch import nn

from converter.errors import ConversionError
from converter.models.i3d import BatchNorm
from converter.models.i3d_spec import ENDPOINTS

DEFAULT_TRAIN_FROM = "Mixed_5b"
BN_MODES = ("batch", "frozen")


def split_blocks(train_from: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(frozen, trained) top-level blocks of I3D for ``train_from``."""
    if train_from not in ENDPOINTS:
        raise ConversionError(None, f"unknown endpoint {train_from!r} for --train-from; one of {', '.join(ENDPOINTS)}")
    at = ENDPOINTS.index(train_from)
    return ENDPOINTS[:at], ENDPOINTS[at:]


def freeze(model: nn.Module, train_from: str, bn_momentum: float | None = None) -> None:
    """Switch off gradients of every block before ``train_from``; ``bn_momentum`` sets the trained BNs'."""
    frozen, trained = split_blocks(train_from)
    for name in frozen:
        model.get_submodule(name).requires_grad_(False)
    for name in trained:
        block = model.get_submodule(name)
        block.requires_grad_(True)
        if bn_momentum is not None:
            for module in block.modules():
                if isinstance(module, BatchNorm):
                    module.momentum = bn_momentum


def train_mode(model: nn.Module, train_from: str, bn: str = "batch") -> None:
    """``model.train()``, except frozen blocks (and, with ``bn="frozen"``, every BatchNorm) stay in eval."""
    if bn not in BN_MODES:
        raise ConversionError(None, f"unknown BatchNorm mode {bn!r}; one of {', '.join(BN_MODES)}")
    frozen, _ = split_blocks(train_from)
    model.train()
    for name in frozen:
        model.get_submodule(name).eval()
    if bn == "frozen":
        for module in model.modules():
            if isinstance(module, BatchNorm):
                module.eval()
