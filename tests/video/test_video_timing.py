"""Exact frame timing: every source frame once at the source's rate, the frame on screen at k / fps
otherwise, whatever the container's time base (Matroska/WebM 1 ms, MP4, AVI) and for variable rates."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from converter.video.decode import iter_frames, iter_timed_frames
from converter.video.timing import Clock

av = pytest.importorskip("av")

# (suffix, encoder, pixel format, options): all lossless, so a frame's grey level says which it is
CODECS = {
    "ffv1.mkv": ("ffv1", "yuv444p", {}),
    "vp9.webm": ("libvpx-vp9", "yuv444p", {"lossless": "1", "deadline": "realtime", "cpu-used": "8"}),
    "x264rgb.mp4": ("libx264rgb", "rgb24", {"qp": "0", "preset": "ultrafast"}),
    "x264.mp4": ("libx264", "yuv444p", {"qp": "0", "preset": "ultrafast"}),
    "ffv1.avi": ("ffv1", "yuv444p", {}),
}
NTSC = Fraction(30000, 1001)


def write(path: Path, count: int, rate: Fraction, stamps_ms: list[int] | None = None) -> Path:
    """``count`` frames of grey 20·i; ``stamps_ms``: presentation times in ms (a variable-rate file)."""
    codec, pix_fmt, options = CODECS[path.name.split("-")[-1]]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt, stream.options = 32, 16, pix_fmt, options
        if stamps_ms is not None:
            stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(np.full((16, 32, 3), 20 * i, np.uint8), format="rgb24")
            if stamps_ms is not None:
                frame.pts, frame.time_base = stamps_ms[i], Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def indices(path: Path, fps: float | None) -> list[int]:
    return [round(float(frame.mean()) / 20) for frame in iter_frames(path, fps)]


@pytest.fixture(scope="module", params=sorted(CODECS))
def clips(request, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("timing")
    return {
        "30": write(folder / f"30-{request.param}", 9, Fraction(30)),
        "ntsc": write(folder / f"ntsc-{request.param}", 9, NTSC),
    }


def test_the_source_rate_gives_every_frame_once(clips):
    """Matroska stamps 30 fps frames 0, 33, 67, 100 ms: once read as [0, 1, 1, 3, 4, 4, …]."""
    for path in clips.values():
        assert indices(path, None) == list(range(9))
    assert indices(clips["30"], 30) == list(range(9))
    assert indices(clips["ntsc"], float(NTSC)) == list(range(9))
    assert indices(clips["ntsc"], 29.97) == list(range(9))  # 29.97 means the stream's 30000/1001


def test_25_fps_takes_the_frame_on_screen_at_each_output_time(clips):
    for key, rate in (("30", Fraction(30)), ("ntsc", NTSC)):
        want = [math.floor(k * rate / 25) for k in range(math.ceil(9 * 25 / rate))]
        assert indices(clips[key], 25) == want, key


def test_timestamps_are_the_frames_own(clips):
    native = list(iter_timed_frames(clips["ntsc"], None))
    assert [t.start for t in native] == [n / NTSC for n in range(9)]
    assert all(a.end == b.start for a, b in pairwise(native))
    at_25 = list(iter_timed_frames(clips["30"], 25))
    assert [(t.start, t.end) for t in at_25] == [(Fraction(k, 25), Fraction(k + 1, 25)) for k in range(8)]


def test_a_variable_rate_file(tmp_path):
    stamps = [0, 40, 120, 160, 300, 320]
    path = write(tmp_path / "vfr-ffv1.mkv", 6, Fraction(25), stamps)
    assert indices(path, None) == list(range(6))
    assert [t.start for t in iter_timed_frames(path, None)] == [Fraction(s, 1000) for s in stamps]
    # at 25 fps: the frame on screen at 0, 40, 80, …, 320 ms (frame 4, 300-320 ms, is never on screen then)
    assert indices(path, 25) == [0, 1, 1, 2, 3, 3, 3, 3, 5]


@pytest.mark.parametrize(
    ("time_base", "rate", "stamp", "shown"),
    [
        (Fraction(1, 1000), Fraction(30), Fraction(67, 1000), Fraction(2, 30)),  # on the grid: exact
        (Fraction(1, 1000), Fraction(30), Fraction(50, 1000), Fraction(99, 2000)),  # off it: half a tick early
        (Fraction(1, 30), Fraction(30), Fraction(4, 30), Fraction(4, 30)),  # whole ticks: no tolerance
    ],
)
def test_clock(time_base, rate, stamp, shown):
    assert Clock(time_base, rate).shown_from(stamp) == shown
