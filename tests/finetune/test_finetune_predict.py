"""``predict``: evaluate's transform path on any clip size, input ranges checked, one file per --weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from converter.cli import main
from converter.finetune.model import save_stream
from converter.models.i3d import InceptionI3d

LABELS = ["left", "right", "up"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Fine-tuned-looking RGB and flow files (random, with labels), as ``finetune`` writes them."""
    folder = tmp_path_factory.mktemp("weights")
    paths = {}
    for seed, (stream, channels) in enumerate((("rgb", 3), ("flow", 2))):
        torch.manual_seed(seed)
        model = InceptionI3d(num_classes=len(LABELS), in_channels=channels)
        model.labels = LABELS
        paths[stream] = folder / f"best_{stream}.safetensors"
        save_stream(paths[stream], model, stream, {})
    return paths


def clip_folder(root: Path, name: str, **arrays: np.ndarray) -> Path:
    folder = root / name
    folder.mkdir()
    for stream, array in arrays.items():
        np.save(folder / f"{stream}.npy", array)
    return folder


def run_predict(capsys: pytest.CaptureFixture, *argv: str) -> dict:
    assert main(["predict", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def probabilities(report: dict) -> dict[str, float]:
    return {row["label"]: row["probability"] for row in report["top"]}


def test_a_256_pixel_clip_is_centre_cropped_like_evaluate(tmp_path, weights, capsys) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (10, 256, 256, 3), dtype=np.uint8)
    big = clip_folder(tmp_path, "big", rgb=pixels.astype(np.float32) / np.float32(127.5) - np.float32(1))
    cropped = clip_folder(tmp_path, "cropped", rgb=np.load(big / "rgb.npy")[:, 16:240, 16:240])
    as_uint8 = clip_folder(tmp_path, "uint8", rgb=pixels)
    got = run_predict(capsys, str(big), "--weights", str(weights["rgb"]))
    assert got["precision"] == "fp32" and got["streams"] == "rgb"
    want = probabilities(run_predict(capsys, str(cropped), "--weights", str(weights["rgb"])))
    assert probabilities(got) == pytest.approx(want, abs=1e-6)
    # uint8 pixels are mapped by x / 127.5 - 1: the same clip
    assert probabilities(run_predict(capsys, str(as_uint8), "--weights", str(weights["rgb"]))) == pytest.approx(
        want, abs=1e-6
    )


def test_0_255_floats_are_refused_naming_the_file_and_range(tmp_path, weights, capsys) -> None:
    folder = clip_folder(tmp_path, "pixels", rgb=np.full((9, 224, 224, 3), 200.0, np.float32))
    assert main(["predict", str(folder), "--weights", str(weights["rgb"])]) == 2
    error = capsys.readouterr().err
    assert str(folder / "rgb.npy") in error and "[200, 200], expected [-1, 1]" in error and "0..255" in error


def test_repeated_weights_fuse_rgb_and_flow(tmp_path, weights, capsys) -> None:
    rng = np.random.default_rng(1)
    rgb = rng.uniform(-1, 1, (9, 224, 224, 3)).astype(np.float32)
    flow = rng.uniform(-1, 1, (9, 224, 224, 2)).astype(np.float32)
    folder = clip_folder(tmp_path, "both", rgb=rgb, flow=flow)
    # README form: the clip after the options, one file per --weights, flow first
    argv = ["--weights", str(weights["flow"]), "--weights", str(weights["rgb"]), str(folder)]
    report = run_predict(capsys, *argv)
    assert report["streams"] == "rgb+flow" and sorted(probabilities(report)) == sorted(LABELS)
    assert sum(probabilities(report).values()) == pytest.approx(1.0, abs=1e-5)


def test_evaluate_finds_0_255_floats_before_running(tmp_path) -> None:
    """The dataset check of evaluate/finetune: uint8 clips are taken, 0..255 floats named with their range."""
    from converter.errors import ConversionError
    from converter.finetune.data import ClipDataset, find_clips

    split = tmp_path / "val" / "left"
    split.mkdir(parents=True)
    pixels = np.random.default_rng(2).integers(0, 256, (9, 224, 224, 3), dtype=np.uint8)
    clip_folder(split, "a", rgb=pixels)
    (clip,) = find_clips(tmp_path, "val", ["left"], ("rgb",), crop=224, every_class=True)
    inputs, _ = ClipDataset([clip], ("rgb",), 9, 224, train=False)[0]
    assert torch.equal(inputs["rgb"], torch.from_numpy(pixels.transpose(3, 0, 1, 2)).float() / 127.5 - 1)
    clip_folder(split, "b", rgb=pixels.astype(np.float32))
    with pytest.raises(ConversionError, match=r"b/rgb.npy: values span \[0, 255\], expected \[-1, 1\]"):
        find_clips(tmp_path, "val", ["left"], ("rgb",), crop=224, every_class=True)
