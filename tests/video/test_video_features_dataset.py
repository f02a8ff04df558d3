"""``features`` over a dataset: folders and lists, ten crops, centred windows, presets, native timing."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
import torch

import converter
from converter.cli import build_parser
from converter.commands.features import settings_of
from converter.video import manifest
from converter.video.clips import batch_tensor
from converter.video.crops import NAMES, views
from converter.video.decode import iter_frames
from converter.video.features import FeatureSettings, extract
from converter.video.transforms import resize_short_side, to_unit_range
from tests.video.samples import moving_shapes, write_random_i3d

ENDPOINT = "Conv3d_1a_7x7"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, random_i3d_model) -> dict:
    """Three short videos in a tree, a list of two of them, and random RGB weights."""
    av = pytest.importorskip("av")

    root = tmp_path_factory.mktemp("dataset")
    videos = {"train/a.mp4": 7, "val/a.mp4": 9, "val/deep/b.mkv": 5}
    for name, count in videos.items():
        path = root / "data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as container:
            stream = container.add_stream("ffv1", rate=Fraction(30000, 1001))
            stream.width, stream.height, stream.pix_fmt = 40, 32, "yuv444p"
            for frame in moving_shapes(count, 32, 40):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
    (root / "data" / "lists").mkdir()
    (root / "data" / "lists" / "some.txt").write_text("../val/a.mp4\n../val/deep/b.mkv\n")
    state = {k: v.numpy() for k, v in random_i3d_model.state_dict().items()}
    weights = write_random_i3d(root / "rgb.safetensors", state, 400, 3)
    return {"root": root, "data": root / "data", "weights": weights, "model": converter.load_model(weights)}


def pooled(model: torch.nn.Module, clips: list[np.ndarray]) -> np.ndarray:
    with torch.inference_mode():
        return model.endpoints(batch_tensor([list(c) for c in clips]), [ENDPOINT])[ENDPOINT].mean(dim=(2, 3, 4)).numpy()


def test_a_folder_tree_and_a_list(dataset, tmp_path):
    settings = FeatureSettings(ENDPOINT, clip=4, stride=4, fps=None)
    out = tmp_path / "tree"
    summary = extract([dataset["data"]], dataset["model"], "rgb", out, settings, progress=False)
    assert [o.status for o in summary.outcomes] == ["done"] * 3
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npy")) == [
        "train/a.npy", "val/a.npy", "val/deep/b.npy"
    ]  # fmt: skip
    meta = json.loads((out / "val" / "a.json").read_text())
    assert meta["frames"] == 9 and meta["clip_frames"] == [[0, 4], [4, 8], [8, 9]]
    period = 1001 / 30000  # native rate: the frames' own times
    np.testing.assert_allclose(
        meta["timestamps"], [[0, 4 * period], [4 * period, 8 * period], [8 * period, 9 * period]]
    )
    records = manifest.read(out)
    assert sorted(r["name"] for r in records) == ["train/a", "val/a", "val/deep/b"]
    assert {r["status"] for r in records} == {"done"} and records[0]["fps"] == "native"
    assert set(records[0]["seconds"]) == {"decode", "flow", "model"}

    listed = tmp_path / "listed"
    extract([f"@{dataset['data'] / 'lists' / 'some.txt'}"], dataset["model"], "rgb", listed, settings, progress=False)
    assert sorted(p.relative_to(listed).as_posix() for p in listed.rglob("*.npy")) == ["a.npy", "b.npy"]
    assert np.array_equal(np.load(listed / "a.npy"), np.load(out / "val" / "a.npy"))


def test_ten_crop_rows_are_the_single_crops(dataset, tmp_path):
    video = dataset["data"] / "train" / "a.mp4"
    settings = FeatureSettings(ENDPOINT, clip=7, stride=7, crops=10, fps=None)
    extract([video], dataset["model"], "rgb", tmp_path, settings, progress=False)
    rows, meta = np.load(tmp_path / "a.npy"), json.loads((tmp_path / "a.json").read_text())
    assert rows.shape == (1, 10, 64) and meta["crops"] == list(NAMES[10])
    resized = [resize_short_side(f) for f in iter_frames(video, None)]
    clips = [[to_unit_range(views(f, 10)[c]) for f in resized] for c in range(10)]
    expected = np.concatenate([pooled(dataset["model"], [clip]) for clip in clips])
    np.testing.assert_allclose(rows[0], expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(rows[0, 0], rows[0, 5])  # a corner and its mirror differ
    one = tmp_path / "one"
    single = FeatureSettings(ENDPOINT, clip=7, stride=7, fps=None)
    extract([video], dataset["model"], "rgb", one, single, progress=False)
    np.testing.assert_allclose(np.load(one / "a.npy")[0], rows[0, 4], rtol=1e-4, atol=1e-5)  # the centre view


def test_mirrored_flow_points_the_other_way():
    flow = np.zeros((256, 300, 2), np.float32)
    flow[..., 0], flow[..., 1] = np.arange(300, dtype=np.float32), 1
    crops = views(flow, 10, flow=True)
    assert crops.shape == (10, 224, 224, 2)
    assert np.array_equal(crops[5][..., 0], -flow[:224, ::-1][:224, :224, 0]) and (crops[5][..., 1] == 1).all()


def test_centred_windows_give_one_row_per_frame(dataset, tmp_path):
    video = dataset["data"] / "train" / "a.mp4"
    settings = FeatureSettings(ENDPOINT, clip=5, stride=1, window="centered", fps=None)
    extract([video], dataset["model"], "rgb", tmp_path, settings, batch=3, progress=False)
    rows, meta = np.load(tmp_path / "a.npy"), json.loads((tmp_path / "a.json").read_text())
    assert rows.shape == (7, 64) and meta["clip_frames"] == [[t, t + 1] for t in range(7)]
    assert meta["padded"] == [True, True, False, False, False, True, True]
    frames = [to_unit_range(views(resize_short_side(f), 1)[0]) for f in iter_frames(video, None)]
    for t, indices in ((0, [0, 0, 0, 1, 2]), (3, [1, 2, 3, 4, 5]), (6, [4, 5, 6, 6, 6])):
        expected = pooled(dataset["model"], [[frames[i] for i in indices]])[0]
        np.testing.assert_allclose(rows[t], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("argv", "want", "stream"),
    [
        (["--preset", "i3d-paper"], {"fps": 25.0, "clip": 64, "stride": 64, "crops": 1}, None),
        (["--preset", "thumos14"], {"fps": None, "clip": 16, "stride": 4, "flow_method": "tvl1"}, "joint"),
        (["--preset", "video-features"], {"fps": None, "clip": 64, "stride": 64}, "joint"),
        (["--preset", "thumos14", "--fps", "25", "--crops", "10"], {"fps": 25.0, "stride": 4, "crops": 10}, "joint"),
        (["--fps", "native", "--clip", "8"], {"fps": None, "clip": 8, "stride": 8, "preset": None}, None),
    ],
)
def test_presets_fill_what_was_not_given(argv, want, stream):
    args = build_parser("features").parse_args(["features", "v.mp4", "--out", "o", *argv])
    settings, wanted = settings_of(args)
    assert {k: getattr(settings, k) for k in want} == want and wanted == stream
    assert settings.preset == (argv[1] if argv[0] == "--preset" else None)


@pytest.mark.parametrize(
    ("argv", "device", "method"),
    [
        ([], "cpu", "tvl1"),
        ([], "cuda", "tvl1-torch"),
        ([], torch.device("cuda", 1), "tvl1-torch"),
        (["--preset", "thumos14"], "cpu", "tvl1"),
        (["--preset", "i3d-paper"], "cuda:0", "tvl1-torch"),
        (["--flow-method", "tvl1"], "cuda", "tvl1"),  # asked for by name: kept
        (["--flow-method", "dis"], "cuda", "dis"),
    ],
)
def test_tv_l1_is_the_batched_tvl1_torch_on_cuda(argv, device, method):
    args = build_parser("features").parse_args(["features", "v.mp4", "--out", "o", *argv])
    assert settings_of(args, device)[0].flow_method == method


def test_a_preset_is_recorded(dataset, tmp_path, capsys):
    from converter.cli import main

    video = dataset["data"] / "val" / "deep" / "b.mkv"
    args = ["features", str(video), "--weights", str(dataset["weights"]), "--out", str(tmp_path), "--quiet"]
    assert main([*args, "--preset", "i3d-paper", "--endpoint", ENDPOINT, "--clip", "4", "--workers", "0"]) == 0
    recorded = json.loads((tmp_path / "b.json").read_text())["settings"]
    assert recorded["preset"] == "i3d-paper" and recorded["fps"] == 25.0 and recorded["clip"] == 4
    assert "preset i3d-paper" in capsys.readouterr().out


def test_threads_sets_the_models_thread_count(dataset, tmp_path, capsys):
    from converter.cli import main

    video = dataset["data"] / "val" / "deep" / "b.mkv"
    args = ["features", str(video), "--weights", str(dataset["weights"]), "--out", str(tmp_path), "--quiet"]
    before = torch.get_num_threads()
    try:
        assert main([*args, "--endpoint", ENDPOINT, "--clip", "4", "--workers", "0", "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1 and (tmp_path / "b.npy").is_file()
    finally:
        torch.set_num_threads(before)
    with pytest.raises(SystemExit):
        main([*args, "--threads", "0"])
    assert "--threads: expected a whole number of threads, at least 1, got '0'" in capsys.readouterr().err
