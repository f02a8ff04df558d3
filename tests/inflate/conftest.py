"""Shared helpers: 2D networks with non-trivial weights (a TF-slim checkpoint, a torchvision GoogLeNet), and
the 2D-vs-3D error measure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
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


@pytest.fixture(scope="session")
def slim_checkpoint(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    """A random TF-slim InceptionV1 checkpoint written by TensorFlow itself (with a global_step), and its
    variables as TensorFlow's own reader reads them back."""
    import tensorflow as tf
    from inception2d import random_slim_variables

    variables = random_slim_variables(seed=3)
    tensors = {**variables, "global_step": np.array(12345, np.int64)}
    prefix = tmp_path_factory.mktemp("slim") / "inception_v1.ckpt"
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names), tensors=[tensors[n] for n in names]
    )
    reader = tf.train.load_checkpoint(str(prefix))
    return prefix, {name: reader.get_tensor(name) for name in variables}


@pytest.fixture(scope="session")
def googlenet() -> nn.Module:
    """torchvision's GoogLeNet (aux heads included) with random gammas, offsets and statistics."""
    from inception2d import GoogLeNet

    torch.manual_seed(4)
    return _nontrivial(GoogLeNet(), seed=4)
