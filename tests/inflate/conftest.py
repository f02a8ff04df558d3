"""Shared helpers: 2D networks with non-trivial weights, and the 2D-vs-3D error measure."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn


def _nontrivial(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN affine parameters and statistics (fresh BN is an identity that would hide mistakes)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5, generator=gen)
                module.bias.normal_(0.0, 0.1, generator=gen)
                module.running_mean.normal_(0.0, 0.1, generator=gen)
                module.running_var.uniform_(0.5, 1.5, generator=gen)
                module.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))
    return model.eval()


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want| (absolute differences: a signed max would hide negative errors)."""
    return float((got - want).abs().max() / want.abs().max())


@pytest.fixture(scope="session")
def nontrivial() -> Callable[..., nn.Module]:
    return _nontrivial


@pytest.fixture(scope="session")
def relative_error() -> Callable[[torch.Tensor, torch.Tensor], float]:
    return _relative_error
