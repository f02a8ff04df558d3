"""Video commands run in the precision asked for, and say so."""

from __future__ import annotations

import json

import pytest
import torch

from converter.cli import main
from tests.video.samples import moving_shapes, write_random_i3d


def test_classify_reports_and_records_the_precision(tmp_path, random_state, write_video, capsys) -> None:
    weights = write_random_i3d(tmp_path / "rgb.safetensors", random_state(num_classes=3), 3, 3)
    video = write_video(tmp_path / "v.mp4", moving_shapes(9))
    argv = ["classify", str(video), "--weights", str(weights), "--topk", "3"]
    assert main([*argv, "--json", "--precision", "bf16"]) == 0
    bf16 = json.loads(capsys.readouterr().out)
    assert main([*argv, "--json"]) == 0
    fp32 = json.loads(capsys.readouterr().out)
    assert (bf16["precision"], fp32["precision"]) == ("bf16", "fp32")
    logits = {name: {row["label"]: row["logit"] for row in r["top"]} for name, r in (("bf", bf16), ("fp", fp32))}
    drift = max(abs(logits["bf"][k] - logits["fp"][k]) for k in logits["fp"])
    scale = max(abs(v) for v in logits["fp"].values())
    assert 0 < drift < 0.1 * scale + 0.05  # bf16 ran (not bit-equal) and stayed close
    assert main([*argv, "--precision", "tf32"]) == 0
    device = "cuda" if torch.cuda.is_available() else "cpu"  # classify's default device
    assert f"on {device} in tf32" in capsys.readouterr().out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_fp32_features_equal_cpu_fp32_features(tmp_path, random_state, write_video) -> None:
    """With cuDNN's TF32 on (PyTorch's default), ``--precision fp32`` still gives CPU's features to 1e-4."""
    import numpy as np

    weights = write_random_i3d(tmp_path / "rgb.safetensors", random_state(num_classes=3), 3, 3)
    video = write_video(tmp_path / "v.mp4", moving_shapes(16))
    common = ["--weights", str(weights), "--clip", "16", "--quiet", "--endpoint", "Mixed_5c"]
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        for device in ("cpu", "cuda"):
            assert main(["features", str(video), "--out", str(tmp_path / device), "--device", device, *common]) == 0
        assert torch.backends.cudnn.allow_tf32  # restored after the run
    finally:
        torch.backends.cudnn.allow_tf32 = before
    cpu, gpu = (np.load(tmp_path / device / "v.npy") for device in ("cpu", "cuda"))
    relative = np.abs(gpu - cpu).max() / np.abs(cpu).max()
    print(f"GPU fp32 vs CPU fp32 Mixed_5c features: max|Δ|/max|ref| = {relative:.2e}")
    assert relative <= 1e-4
