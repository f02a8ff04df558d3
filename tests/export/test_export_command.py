"""``python -m converter export``: a checked file, or one line saying why not and no file."""

from __future__ import annotations

import os

import torch

from converter.cli import main
from converter.export import load
from converter.writers import write_weights


def weights(model, tmp_path):
    return write_weights(tmp_path / "w.safetensors", model.state_dict(), {"architecture": "i3d", "config": "{}"}).path


def test_export_writes_a_checked_torchscript_file(random_i3d_model, tmp_path, capsys) -> None:
    out = tmp_path / "features.pt"
    args = ["export", str(weights(random_i3d_model, tmp_path)), "--format", "torchscript", "--out", str(out)]
    assert main([*args, "--endpoint", "Conv3d_2b_1x1", "--dynamic", "time,height,width", "--shape", "2x6x20x18"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out} (torchscript, Conv3d_2b_1x1, dynamic: time, height, width" in printed
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # readable as any new file, not mkstemp's 0600
    assert printed.count("max |Δ| vs eager") >= 4  # smallest, odd, even, largest sizes
    x = torch.rand(2, 3, 7, 23, 17) * 2 - 1
    with torch.no_grad():
        want = random_i3d_model.endpoints(x, ["Conv3d_2b_1x1"])["Conv3d_2b_1x1"]
        assert (load(out, "torchscript")(x) - want).abs().max().item() <= 1e-4
    assert main([*args, "--endpoint", "Conv3d_2b_1x1"]) == 2
    assert "exists (use --force to replace it)" in capsys.readouterr().err


def test_export_refusals_are_one_line_and_leave_nothing(random_i3d_model, tmp_path, capsys) -> None:
    source = str(weights(random_i3d_model, tmp_path))
    out = tmp_path / "m.onnx"
    for extra, message in [
        (["--dynamic", "batch,channels"], "channels cannot be dynamic: the first convolution's weight fixes them"),
        (["--shape", "1x8x224x224", "--dynamic", "batch"], "time 8 is outside what Logits accepts (>= 9)"),
    ]:
        assert main(["export", source, "--format", "onnx", "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]
