"""A checkpoint folder (as the official repository ships ``rgb_scratch_kin600/``) is read as the checkpoint it
holds; a folder of several names them on one line."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load_file

from converter.cli import main
from converter.models.i3d import InceptionI3d
from converter.tfbundle.writer import write_bundle
from converter.writers import write_weights


def test_the_official_kin600_folder_is_read_as_its_checkpoint(kinetics_dir, capsys):
    folder = kinetics_dir / "checkpoints" / "rgb_scratch_kin600"
    assert main(["inspect", str(folder), "--no-tensors"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{folder / 'model.ckpt'} (tf-checkpoint): 346 tensors")
    assert "deepmind: FITS" in out


def test_a_converted_folder_round_trips(tmp_path, monkeypatch, capsys):
    import torch

    torch.manual_seed(0)
    state = InceptionI3d(num_classes=6).state_dict()
    ours = write_weights(tmp_path / "w.safetensors", state, {"architecture": "i3d", "config": '{"num_classes": 6}'})
    monkeypatch.chdir(tmp_path)
    assert main(["convert", "w.safetensors", "--to", "deepmind", "--out", "exp/model.ckpt"]) == 0
    assert main(["convert", "exp", "--out", "back.safetensors"]) == 0, capsys.readouterr().err
    back = load_file(tmp_path / "back.safetensors")
    original = load_file(ours.path)
    assert back.keys() == original.keys()
    assert all(np.array_equal(back[k], original[k]) for k in back)


def test_the_checkpoint_file_chooses_among_several_and_without_it_they_are_named(tmp_path, capsys):
    for step in (100, 200):
        write_bundle(tmp_path / f"model.ckpt-{step}", {"step": np.array(step, np.int64)})
    assert main(["inspect", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {tmp_path}: holds 2 checkpoints (model.ckpt-100, model.ckpt-200); name one, e.g. "
        f"{tmp_path / 'model.ckpt-200'}\n"
    )
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "model.ckpt-100"\nall_model_checkpoint_paths: "model.ckpt-100"\n'
    )
    assert main(["inspect", str(tmp_path)]) == 1  # read; no mapping fits a one-tensor checkpoint
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'model.ckpt-100'} (tf-checkpoint): 1 tensors")


def test_a_folder_of_checkpoint_folders_names_them(kinetics_dir, capsys):
    assert main(["inspect", str(kinetics_dir / "checkpoints")]) == 2
    err = capsys.readouterr().err
    assert (
        "holds 5 checkpoint folders (flow_imagenet, flow_scratch, rgb_imagenet, rgb_scratch, rgb_scratch_kin600)" in err
    )
    assert err.count("\n") == 1


@pytest.mark.parametrize("content", ["", "garbage"])
def test_an_empty_or_foreign_folder_is_still_not_a_checkpoint(tmp_path, capsys, content):
    (tmp_path / "notes.txt").write_text(content)
    assert main(["inspect", str(tmp_path)]) == 2
    assert "not a checkpoint format this tool reads" in capsys.readouterr().err
