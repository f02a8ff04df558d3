"""Flow sign, magnitude, range and time alignment on translated textures."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.video.flow import METHODS, flow_clip, iter_flow, normalize_flow
from converter.video.transforms import CROP


def test_normalize_truncates_at_20_pixels_and_divides_by_20():
    flow = np.array([-30, -20, -10, 0, 5, 20, 25], np.float32)
    out = normalize_flow(flow)
    assert out.dtype == np.float32
    assert out.tolist() == [-1, -1, -0.5, 0, 0.25, 1, 1]


def test_tvl1_measures_a_translation_with_its_sign(texture, shifted):
    # 256 x 256, so no resize. Right 2 px and down 1 px: flow (x, y) = (2, 1) / 20 = (0.1, 0.05).
    base = texture(256, 256)
    clip = flow_clip([shifted(base, 0, 0), shifted(base, 2, 1)], "tvl1")
    assert clip.shape == (2, CROP, CROP, 2) and clip.dtype == np.float32
    np.testing.assert_allclose(clip[0].mean(axis=(0, 1)), [0.1, 0.05], atol=0.005)
    assert np.array_equal(clip[1], clip[0])  # T frames in, T out: the last pair's flow is repeated
    assert np.abs(clip).max() <= 1


def test_flow_is_computed_after_resizing_to_256(texture, shifted):
    # A 1 px move in a 128 px frame is a 2 px move at the flow resolution.
    base = texture(128, 128)
    mean = flow_clip([shifted(base, 0, 0), shifted(base, 0, 1)], "dis").mean(axis=(1, 2))
    np.testing.assert_allclose(mean[0], [0.0, 0.1], atol=0.01)


@pytest.mark.parametrize("method", [m for m in METHODS if not m.startswith("tvl1")])
def test_the_fast_methods_agree_on_a_translation(texture, shifted, method):
    base = texture(256, 256)
    mean = flow_clip([shifted(base, 0, 0), shifted(base, -3, 2)], method).mean(axis=(1, 2))
    np.testing.assert_allclose(mean[0], [-0.15, 0.1], atol=0.01)


def test_a_still_clip_has_zero_flow_and_one_frame_gives_one_zero_frame(texture, shifted):
    still = shifted(texture(256, 256), 0, 0)
    assert np.abs(flow_clip([still, still], "dis")).max() < 1e-3
    single = flow_clip([still], "tvl1")
    assert single.shape == (1, CROP, CROP, 2) and not single.any()
    assert flow_clip([], "tvl1").shape == (0, CROP, CROP, 2)


def test_iter_flow_streams(texture, shifted):
    base = texture(256, 256)
    frames = (shifted(base, i, 0) for i in range(4))
    flows = iter_flow(frames, "dis")
    first = next(flows)
    assert first.shape == (CROP, CROP, 2)
    assert len(list(flows)) == 3


def test_an_unknown_method_is_refused():
    with pytest.raises(ConversionError, match="unknown flow method 'raft'"):
        flow_clip([np.zeros((8, 8, 3), np.uint8)], "raft")


def test_tvl1_torch_is_opencvs_tvl1_through_the_recipe(texture, shifted):
    # 256 x 256 (no resize), right 2 px and up 1 px: after the crop, clip and /20 the two methods agree
    # far inside the 0.002 mean |Δ|.
    base = texture(256, 256)
    frames = [shifted(base, 0, 0), shifted(base, 2, -1)]
    ours, opencv = flow_clip(frames, "tvl1-torch"), flow_clip(frames, "tvl1")
    assert ours.shape == opencv.shape == (2, CROP, CROP, 2) and ours.dtype == np.float32
    assert np.abs(ours - opencv).mean() <= 0.002
    np.testing.assert_allclose(ours[0].mean(axis=(0, 1)), [0.1, -0.05], atol=0.005)


@pytest.mark.parametrize("count", [1, 2, 6])
def test_tvl1_torch_batches_keep_one_flow_frame_per_frame(texture, shifted, count, monkeypatch):
    # Pairs go in batches (here of 4); any clip length still gives T flow frames, the last repeated.
    monkeypatch.setattr("converter.video.flow.BATCH", {"cpu": 4, "cuda": 4})
    still = shifted(texture(256, 256), 0, 0)
    flows = list(iter_flow([still] * count, "tvl1-torch"))
    assert len(flows) == count
    assert all(f.shape == (CROP, CROP, 2) and not f.any() for f in flows)


def test_tvl1_torch_batch_equals_one_by_one(texture, shifted):
    from converter.video.flow import batch_flow_function

    base = texture(64, 80)
    grays = [shifted(base, dx, dy)[..., 0] for dx, dy in [(0, 0), (1, 0), (3, -1), (3, -1)]]
    compute = batch_flow_function("cpu")
    batch = compute(grays[:-1], grays[1:])
    singles = [compute([a], [b])[0] for a, b in pairwise(grays)]
    assert len(batch) == 3 and all(np.array_equal(x, y) for x, y in zip(batch, singles, strict=True))


@pytest.mark.parametrize(
    "argv",
    [
        ["preprocess", "data"],
        ["features", "clip.mp4", "--out", "feats"],
        ["classify", "clip.mp4"],
        ["predict", "clip.mp4", "--weights", "w.safetensors"],
        ["visualize", "activations", "clip.mp4", "--out", "out"],
    ],
)
def test_every_video_command_offers_tvl1_torch(argv):
    from converter.cli import build_parser

    args = build_parser(argv[0]).parse_args([*argv, "--flow-method", "tvl1-torch"])
    assert args.flow_method == "tvl1-torch"


def test_tvl1_torch_runs_on_the_device_it_is_given(monkeypatch):
    # features passes the model's device (cuda:LOCAL_RANK under torchrun); CUDA batches 64 pairs a call.
    calls = []

    def fake(device=None):
        def compute(prevs, nexts):
            calls.append((device, len(prevs)))
            return [np.zeros((*p.shape, 2), np.float32) for p in prevs]

        return compute

    monkeypatch.setattr("converter.video.flow.batch_flow_function", fake)
    frames = [np.zeros((32, 40, 3), np.uint8)] * 70
    assert len(list(iter_flow(frames, "tvl1-torch", device="cuda:1"))) == 70
    assert calls == [("cuda:1", 64), ("cuda:1", 5)]
