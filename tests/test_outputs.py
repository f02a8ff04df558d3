"""Every writer creates the folders above its output (atomically as before), and a file where a folder must
be is refused before any work, by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from converter.cli import main
from converter.errors import ConversionError
from converter.fvd.distance import Statistics, load_statistics
from converter.models.i3d import InceptionI3d
from converter.outputs import make_parent, write_text
from converter.readers import open_source
from converter.tfbundle.writer import write_bundle
from converter.writers import write_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A small random I3D (5 classes) as our weights file."""
    import torch

    torch.manual_seed(0)
    state = InceptionI3d(num_classes=5).state_dict()
    path = tmp_path_factory.mktemp("weights") / "w.safetensors"
    return write_weights(path, state, {"architecture": "i3d", "config": json.dumps({"num_classes": 5})}).path


@pytest.mark.parametrize(
    ("options", "outputs"),
    [
        (["--out", "new/a/w.safetensors"], ["new/a/w.safetensors"]),
        (["--format", "pt", "--out", "new/b/w.pt"], ["new/b/w.pt"]),
        (
            ["--to", "deepmind", "--out", "exp/model.ckpt"],
            ["exp/model.ckpt.index", "exp/model.ckpt.data-00000-of-00001"],
        ),
        (["--to", "piergiaj", "--out", "new/c/i3d.pt"], ["new/c/i3d.pt"]),
    ],
)
def test_convert_writes_into_a_folder_that_does_not_exist(weights, tmp_path, monkeypatch, capsys, options, outputs):
    monkeypatch.chdir(tmp_path)
    assert main(["convert", str(weights), *options]) == 0, capsys.readouterr().err
    for output in outputs:
        assert (tmp_path / output).is_file()
    assert sorted(p.name for p in (tmp_path / outputs[0]).parent.iterdir()) == sorted(Path(o).name for o in outputs)


def test_a_file_where_the_folder_must_be_is_refused_before_any_work(weights, tmp_path, capsys):
    (tmp_path / "exp").write_text("not a folder")
    out = tmp_path / "exp" / "sub" / "w.safetensors"
    assert main(["convert", str(weights), "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"error: {out}: cannot create the output folder: {tmp_path / 'exp'} is a file\n"
    with pytest.raises(ConversionError, match="is a file"):
        make_parent(out)


def test_checkpoint_bundles_statistics_and_text_create_their_folders(tmp_path):
    write_bundle(tmp_path / "a" / "b" / "model.ckpt", {"w": np.arange(3, dtype=np.float32)})
    assert open_source(tmp_path / "a" / "b" / "model.ckpt").read("w").tolist() == [0, 1, 2]

    stats = Statistics(mean=np.zeros(2), covariance=np.eye(2), n=3, protocol="tf")
    saved = stats.save(tmp_path / "stats" / "real" / "kinetics.npz")
    assert load_statistics(saved).n == 3

    write_text(tmp_path / "reports" / "eval.json", "{}\n")
    assert (tmp_path / "reports" / "eval.json").read_text() == "{}\n"
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["eval.json"]  # no temporary file left
