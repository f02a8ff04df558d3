"""``preprocess`` of videos given as files, folders (recursively) or @lists: outputs mirror their paths."""

from __future__ import annotations

import json

import numpy as np

from converter.cli import main
from tests.video.samples import moving_shapes


def test_a_folder_tree_and_a_list(tmp_path, write_video, capsys):
    for name, count in (("train/a.mp4", 3), ("val/a.mp4", 4)):
        write_video(tmp_path / "data" / name, moving_shapes(count, 32, 40))
    (tmp_path / "list.txt").write_text("data/val/a.mp4\n")
    out = tmp_path / "out"
    args = ["--flow-method", "dis", "--min-frames", "2", "--quiet", "--workers", "1"]
    assert main(["preprocess", str(tmp_path / "data"), "--output", str(out), *args]) == 0
    assert "2 pre-processed, 0 already done, 0 failed of 2 clips" in capsys.readouterr().out
    assert np.load(out / "train" / "a" / "rgb.npy").shape == (3, 224, 224, 3)
    assert np.load(out / "val" / "a" / "flow.npy").shape == (4, 224, 224, 2)
    meta = json.loads((out / "val" / "a" / "meta.json").read_text())
    assert meta["clip"] == str(tmp_path / "data" / "val" / "a.mp4") and meta["split"] is None

    listed = tmp_path / "listed"
    assert main(["preprocess", f"@{tmp_path / 'list.txt'}", "--output", str(listed), *args]) == 0
    same = [np.load(d / "val" / "a" / "rgb.npy") for d in (out, listed / "data")]
    assert np.array_equal(*same)
    assert main(["preprocess", str(tmp_path / "data")]) == 2  # videos need --output
    assert "give --output" in capsys.readouterr().err
