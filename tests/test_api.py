"""``converter.load_model``: a weights file back as a model, with its class names."""

from __future__ import annotations

import converter
import converter.cli
from converter.models.i3d import InceptionI3d
from converter.reference_data import label_map
from converter.writers import write_weights


def test_kinetics_names_come_from_the_reference_data_when_the_file_has_none(kinetics_dir, tmp_path):
    """A file converted where the label map was not found still names Kinetics' classes once it is
    ($KINETICS_I3D_DIR); a model of another class count gets no names."""
    for classes in (400, 7):
        state = InceptionI3d(num_classes=classes).state_dict()
        path = write_weights(
            tmp_path / f"{classes}.safetensors",
            state,
            {"architecture": "i3d", "config": f'{{"num_classes": {classes}}}'},
        ).path
        model = converter.load_model(path)
        assert model.labels == (label_map(400) if classes == 400 else None)
    assert model.labels is None and len(converter.load_model(tmp_path / "400.safetensors").labels) == 400


def test_a_training_checkpoint_with_a_namespace_loads_and_classifies(tmp_path, capsys):
    """``{"state_dict": …, "args": argparse.Namespace(…)}`` goes through the restricted unpickler (as ``convert``
    does), not torch's weights-only refusal: ``load_model`` and ``classify --weights`` both take it."""
    import argparse
    import json

    import numpy as np
    import pytest
    import torch

    Image = pytest.importorskip("PIL.Image")
    torch.manual_seed(0)
    trained = InceptionI3d(num_classes=7)
    path = tmp_path / "epoch_3.pth"
    torch.save({"state_dict": trained.state_dict(), "args": argparse.Namespace(lr=0.1), "epoch": 3}, path)

    model = converter.load_model(path)
    assert model.num_classes == 7 and model.metadata["architecture"] == "i3d"
    for name, tensor in trained.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name

    frames = tmp_path / "clip"
    frames.mkdir()
    for index in range(10):
        Image.fromarray(np.full((64, 80, 3), 20 * index, np.uint8)).save(frames / f"{index}.png")
    assert converter.cli.main(["classify", str(frames), "--weights", str(path), "--json", "--topk", "2"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["weights"] == {"rgb": str(path)} and len(json.loads(out)["top"]) == 2
    assert "weights_only" not in err and "\x1b[" not in err


def test_a_damaged_pytorch_file_is_one_line_without_torchs_advice(tmp_path, capsys):
    path = tmp_path / "w.pt"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    assert converter.cli.main(["classify", str(tmp_path), "--weights", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: not a loadable PyTorch file") and err.count("\n") <= 2
    assert "weights_only" not in err and "\x1b[" not in err
