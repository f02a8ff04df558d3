"""``features --stream joint``: one decode, RGB and flow models on the same clips, rows RGB then flow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from converter.cli import main
from tests.video.samples import moving_shapes, write_random_i3d

CLASSES = 4


def read(out: Path, name: str) -> tuple[np.ndarray, dict]:
    return np.load(out / f"{name}.npy"), json.loads((out / f"{name}.json").read_text())


def test_joint_features_are_the_two_single_stream_runs_side_by_side(tmp_path, random_state, write_video, capsys):
    rgb = write_random_i3d(tmp_path / "rgb.safetensors", random_state(num_classes=CLASSES), CLASSES, 3)
    flow = write_random_i3d(
        tmp_path / "flow.safetensors", random_state(num_classes=CLASSES, in_channels=2, seed=1), CLASSES, 2
    )
    video = write_video(tmp_path / "clip.mp4", moving_shapes(3))
    common = ["--clip", "2", "--stride", "2", "--flow-method", "dis", "--quiet", "--batch", "2", "--workers", "0"]
    assert main(["features", str(video), "--out", str(tmp_path / "rgb"), "--weights", str(rgb), *common]) == 0
    assert main(["features", str(video), "--out", str(tmp_path / "flow"), "--weights", str(flow), *common]) == 0
    joint_args = ["--weights", str(rgb), "--weights", str(flow), "--stream", "joint", "--per-stream"]
    assert main(["features", str(video), "--out", str(tmp_path / "joint"), *joint_args, *common]) == 0
    assert "joint rows: RGB then flow" in capsys.readouterr().out

    rgb_rows, rgb_meta = read(tmp_path / "rgb", "clip")
    flow_rows, flow_meta = read(tmp_path / "flow", "clip")
    joint_rows, joint_meta = read(tmp_path / "joint", "clip")
    assert rgb_rows.shape == flow_rows.shape == (2, 1024) and joint_rows.shape == (2, 2048)
    np.testing.assert_allclose(joint_rows, np.concatenate([rgb_rows, flow_rows], axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.load(tmp_path / "joint" / "clip.rgb.npy"), joint_rows[:, :1024])
    np.testing.assert_array_equal(np.load(tmp_path / "joint" / "clip.flow.npy"), joint_rows[:, 1024:])
    for key in ("frames", "clip_frames", "timestamps", "padded"):
        assert joint_meta[key] == rgb_meta[key] == flow_meta[key], key
    assert joint_meta["clip_frames"] == [[0, 2], [2, 3]] and joint_meta["padded"] == [False, True]
    assert joint_meta["settings"]["stream"] == "joint" and joint_meta["channels"] == {"rgb": 1024, "flow": 1024}
    assert joint_meta["settings"]["precision"] == "fp32" and set(joint_meta["settings"]["weights"]) == {"rgb", "flow"}

    # Done videos are skipped; the per-stream files count as part of being done.
    (tmp_path / "joint" / "clip.flow.npy").unlink()
    assert main(["features", str(video), "--out", str(tmp_path / "joint"), *joint_args, *common]) == 0
    assert "1 done, 0 already done" in capsys.readouterr().out
    assert (tmp_path / "joint" / "clip.flow.npy").is_file()


def test_joint_needs_both_streams(tmp_path, random_state, capsys, monkeypatch):
    rgb = write_random_i3d(tmp_path / "rgb.safetensors", random_state(num_classes=CLASSES), CLASSES, 3)
    monkeypatch.chdir(tmp_path)  # no weights/flow_*.safetensors here
    assert main(["features", "v.mp4", "--out", "o", "--weights", str(rgb), "--stream", "joint"]) == 2
    assert "no flow weights given" in capsys.readouterr().err
