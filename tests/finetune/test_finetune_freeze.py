"""Frozen blocks get no gradient and keep their BatchNorm statistics; trained blocks get both."""

from __future__ import annotations

import pytest
import torch

from converter.errors import ConversionError
from converter.finetune.freeze import freeze, split_blocks, train_mode
from converter.models.i3d import BatchNorm, InceptionI3d
from converter.models.i3d_spec import ENDPOINTS


def test_default_trains_the_last_two_blocks_and_the_logits() -> None:
    frozen, trained = split_blocks("Mixed_5b")
    assert trained == ("Mixed_5b", "Mixed_5c", "Logits")
    assert frozen == ENDPOINTS[:14] and frozen[-1] == "MaxPool3d_5a_2x2"
    assert split_blocks("Conv3d_1a_7x7") == ((), ENDPOINTS)


def test_unknown_endpoint_is_refused() -> None:
    with pytest.raises(ConversionError, match="unknown endpoint 'Mixed_6a'"):
        split_blocks("Mixed_6a")


@pytest.mark.parametrize("bn", ["batch", "frozen"])
def test_modes_and_flags(bn: str) -> None:
    model = InceptionI3d(num_classes=3, dropout=0.5)
    freeze(model, "Mixed_4f", bn_momentum=0.25)
    train_mode(model, "Mixed_4f", bn)
    for name, module in model.named_modules():
        block = name.split(".")[0]
        if not block:
            continue
        trained = ENDPOINTS.index(block) >= ENDPOINTS.index("Mixed_4f")
        assert all(p.requires_grad == trained for p in module.parameters(recurse=False)), name
        if isinstance(module, BatchNorm):
            assert module.training == (trained and bn == "batch"), name
            assert module.momentum == (0.25 if trained else 0.001), name
    assert model.Logits.dropout.training


def test_a_step_changes_only_what_trains() -> None:
    torch.manual_seed(0)
    model = InceptionI3d(num_classes=3)
    freeze(model, "Mixed_4b")
    train_mode(model, "Mixed_4b")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(2, 3, 9, 48, 48) * 2 - 1
    out = model.endpoints(x, ["Mixed_4c"])["Mixed_4c"]
    out.square().mean().backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1).step()
    for name, value in model.state_dict().items():
        block = name.split(".")[0]
        if ENDPOINTS.index(block) < ENDPOINTS.index("Mixed_4b"):
            assert torch.equal(value, before[name]), name
        elif block in ("Mixed_4b", "Mixed_4c") and name.endswith(("running_mean", "bn.bias")):
            assert not torch.equal(value, before[name]), name
    assert all(p.grad is None for n, p in model.named_parameters() if n.startswith("Mixed_3c"))
