"""``--precision``: switches set for the block and restored, bf16 close to fp32, recorded in outputs."""

from __future__ import annotations

import pytest
import torch

from converter.models.i3d import InceptionI3d
from converter.precision import precision, prepare


def switches() -> tuple[bool, bool]:
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


@pytest.mark.parametrize(
    ("mode", "inside"), [("fp32", (False, False)), ("tf32", (True, True)), ("bf16", (False, False))]
)
def test_switches_hold_for_the_block_and_are_restored(mode: str, inside: tuple[bool, bool]) -> None:
    before = switches()
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = not inside[0], not inside[1]
    try:
        with precision(mode, "cpu"):
            assert switches() == inside
            assert torch.is_autocast_enabled("cpu") == (mode == "bf16")
        assert switches() == (not inside[0], not inside[1])
        with pytest.raises(RuntimeError), precision(mode, "cpu"):
            raise RuntimeError("restored on errors too")
        assert switches() == (not inside[0], not inside[1]) and not torch.is_autocast_enabled("cpu")
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="fp32, tf32, bf16"), precision("fp16"):
        pass


def test_bf16_on_cpu_is_channels_last_and_close_to_fp32() -> None:
    torch.manual_seed(0)
    model = InceptionI3d(num_classes=4).eval()
    x = torch.rand(1, 3, 4, 64, 64) * 2 - 1
    with torch.no_grad():
        want = model.endpoints(x, ["Mixed_3c"])["Mixed_3c"]
        prepare(model, "bf16")
        assert model.Conv3d_1a_7x7.conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
        with precision("bf16", "cpu"):
            got = model.endpoints(x, ["Mixed_3c"])["Mixed_3c"]
    assert got.dtype == torch.bfloat16
    error = (got.float() - want).abs().max() / want.abs().max()
    assert 0 < error < 0.05  # bf16 keeps 8 mantissa bits: close, but not equal
