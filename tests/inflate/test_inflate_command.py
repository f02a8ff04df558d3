"""``python -m converter inflate``: a 2D network in (torchvision state_dict, TF-slim checkpoint), a weights
file ``load_model`` rebuilds out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from converter import load_model
from converter.api import read_weights
from converter.cli import main
from converter.inflate.densenet import DenseNet
from converter.inflate.resnet import ResNet
from converter.models.i3d import InceptionI3d


def legacy_densenet_names(state: dict) -> dict:
    """As torchvision's published densenet121-a639ec97.pth spells them (``norm.1``), without counters."""
    out = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        head, _, leaf = key.rpartition(".")
        parent, _, module = head.rpartition(".")
        if "denselayer" in parent and module[-1] in "12":
            key = f"{parent}.{module[:-1]}.{module[-1]}.{leaf}"
        out[key] = value
    return out


def test_densenet_pth_to_safetensors_loads_and_matches_2d(tmp_path, nontrivial, relative_error, capsys) -> None:
    model2d = nontrivial(DenseNet(121, num_classes=10))
    source, out = tmp_path / "densenet121.pth", tmp_path / "densenet121_3d.safetensors"
    torch.save(legacy_densenet_names(model2d.state_dict()), source)
    argv = ["inflate", "densenet121", "--from", str(source), "--init", "mean", "--time-padding", "replicate",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert str(out) in capsys.readouterr().out
    _, meta = read_weights(out)
    assert meta["architecture"] == "densenet3d" and meta["inflate_init"] == "mean"
    assert json.loads(meta["config"])["num_classes"] == 10
    model3d = load_model(out)
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        got, want = model3d(image.unsqueeze(2).expand(-1, -1, 4, -1, -1)), model2d(image)
    assert got.shape == (1, 10)
    assert relative_error(got, want) <= 1e-5
    assert main(argv) == 2  # exists: refused without --force
    assert "exists" in capsys.readouterr().err
    assert main([*argv, "--force", "--init", "center"]) == 0


def test_resnet_safetensors_to_pt_with_time_options(tmp_path, nontrivial, relative_error) -> None:
    model2d = nontrivial(ResNet(50, num_classes=3))
    source, out = tmp_path / "resnet50.safetensors", tmp_path / "resnet50_3d.pt"
    save_file(model2d.state_dict(), source)
    argv = ["inflate", "resnet50", "--from", str(source), "--init", "center", "--time-kernel", "5",
            "--block-time-kernel", "3", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    model3d = load_model(out)
    assert model3d.conv1.weight.shape[2] == 5 and model3d.layer2[0].conv2.weight.shape[2] == 3
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        got, want = model3d(image.unsqueeze(2).expand(-1, -1, 5, -1, -1)), model2d(image)
    assert relative_error(got, want) <= 1e-5


def _run(tmp_path: Path, capsys, state, arch: str = "densenet121", out: str = "out.safetensors") -> str:
    source = tmp_path / "in.pth"
    if state is not None:
        torch.save(state, source)
    assert main(["inflate", arch, "--from", str(source), "--init", "center", "--out", str(tmp_path / out)]) == 2
    assert not (tmp_path / out).exists()
    return capsys.readouterr().err


def test_missing_source_is_reported(tmp_path, capsys) -> None:
    assert "in.pth: no such file" in _run(tmp_path, capsys, None)


def test_wrong_architecture_is_reported(tmp_path, capsys) -> None:
    with torch.device("meta"):
        state = ResNet(50).state_dict()
    err = _run(tmp_path, capsys, {k: torch.zeros(v.shape) for k, v in state.items()})
    assert "in.pth:classifier.weight: missing" in err


def test_a_missing_weight_names_the_file_and_the_key(tmp_path, capsys) -> None:
    state = DenseNet(121, num_classes=2).state_dict()
    del state["features.denseblock3.denselayer7.conv2.weight"]
    err = _run(tmp_path, capsys, {"state_dict": state, "epoch": 90})  # a training checkpoint is unwrapped
    assert "in.pth: 1 missing in the 2D weights for DenseNet3d: features.denseblock3.denselayer7.conv2.weight" in err


@pytest.mark.parametrize(
    "state,message",
    [
        ({"classifier.weight": torch.zeros(2, 2), "epoch": 3}, "'classifier.weight' (torch.Tensor), 'epoch' (int)"),
        ([torch.zeros(1)], "expected a state_dict (a dict of tensors), got list"),
    ],
)
def test_not_a_state_dict_is_reported(tmp_path, capsys, state, message: str) -> None:
    assert message in _run(tmp_path, capsys, state)


def test_garbage_file_and_unknown_output_format_are_reported(tmp_path, capsys) -> None:
    (tmp_path / "in.pth").write_bytes(b"not a zip")
    assert "in.pth: not a loadable PyTorch file" in _run(tmp_path, capsys, None)
    assert "out.onnx: unknown output format" in _run(tmp_path, capsys, {}, out="out.onnx")


@pytest.mark.parametrize("option", [["--time-kernel", "4"], ["--time-stride", "0"], ["--init", "zeros"]])
def test_bad_options_are_refused_by_the_parser(option: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["inflate", "resnet50", "--from", "x.pth", "--init", "center", "--out", "y.pt", *option])
    assert exit_info.value.code == 2
    assert "inflate" in capsys.readouterr().err


def test_inception_v1_from_a_slim_checkpoint_loads_as_i3d(tmp_path, slim_checkpoint, capsys) -> None:
    prefix, variables = slim_checkpoint
    out = tmp_path / "i3d_imagenet.safetensors"
    assert main(["inflate", "inception-v1", "--from", str(prefix), "--init", "mean", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    model = load_model(out)
    assert isinstance(model, InceptionI3d) and model.num_classes == 1001
    meta = model.metadata
    assert (meta["architecture"], meta["mapping"], meta["inflate_init"]) == ("i3d", "inception_v1_slim", "mean")
    assert meta["source_format"] == "tf-checkpoint" and meta["inflated_from"] == "inception_v1.ckpt"
    stem = model.Conv3d_1a_7x7.conv.weight.detach()  # (O, I, T, H, W): slim's HWIO kernel spread over 7 frames
    assert stem.shape == (64, 3, 7, 7, 7) and all(torch.equal(stem[:, :, t], stem[:, :, 0]) for t in range(7))
    want = variables["InceptionV1/Conv2d_1a_7x7/weights"].transpose(3, 2, 0, 1)
    np.testing.assert_allclose(stem.sum(2).numpy(), want, rtol=1e-6, atol=1e-6)


def test_inception_v1_from_a_v1_checkpoint_equals_the_v2_one(tmp_path, slim_checkpoint, capsys) -> None:
    """TF-slim's 2016 checkpoints are V1 files: `--from inception_v1.ckpt` takes one directly, and gives the
    very tensors the same variables give from a V2 checkpoint."""
    from tests.readers.test_tf_checkpoint_v1 import save_v1

    prefix, variables = slim_checkpoint
    v1 = save_v1(tmp_path / "inception_v1.ckpt", {**variables, "global_step": np.int64(12345)})
    outs = []
    for source, name in ((v1, "v1.safetensors"), (prefix, "v2.safetensors")):
        assert (
            main(["inflate", "inception-v1", "--from", str(source), "--init", "mean", "--out", str(tmp_path / name)])
            == 0
        )
        outs.append(read_weights(tmp_path / name))
    (ours, meta), (want, _) = outs
    assert meta["source_format"] == "tf-checkpoint-v1" and ours.keys() == want.keys()
    assert [k for k in want if not torch.equal(ours[k], want[k])] == []


def test_inception_v1_from_a_torchvision_googlenet(tmp_path, googlenet, relative_error) -> None:
    source, out = tmp_path / "googlenet.safetensors", tmp_path / "i3d_imagenet.pt"
    save_file(googlenet.state_dict(), source)
    assert main(["inflate", "inception-v1", "--from", str(source), "--init", "center", "--out", str(out)]) == 0
    model = load_model(out)
    assert model.num_classes == 1000 and model.metadata["mapping"] == "inception_v1_torchvision"
    image = torch.rand(1, 3, 63, 63) * 2 - 1  # a size where torchvision's padding is TF's
    with torch.no_grad():
        got = model.endpoints(image.unsqueeze(2).expand(-1, -1, 2, -1, -1), ["Mixed_5c"])["Mixed_5c"]
        want = googlenet.endpoints(image)["inception5b"]
    assert relative_error(got, want.unsqueeze(2).expand_as(got)) <= 5e-6


@pytest.mark.parametrize(
    "options,message",
    [
        (["--time-kernel", "5", "--time-padding", "zeros"], "--time-kernel, --time-padding: not for inception-v1"),
        ([], "no such file or checkpoint prefix"),
    ],
)
def test_inception_v1_refusals(tmp_path, capsys, options: list[str], message: str) -> None:
    out = tmp_path / "out.safetensors"
    argv = ["inflate", "inception-v1", "--from", str(tmp_path / "nope.ckpt"), "--init", "mean", "--out", str(out)]
    assert main([*argv, *options]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_an_i3d_checkpoint_is_refused_as_inception_v1(tmp_path, official_checkpoint, capsys) -> None:
    argv = ["inflate", "inception-v1", "--from", str(official_checkpoint()), "--init", "mean"]
    assert main([*argv, "--out", str(tmp_path / "out.pt")]) == 2
    assert "mapping inception_v1_slim: 0 matched, 0 ignored, 230 unmatched" in capsys.readouterr().err
