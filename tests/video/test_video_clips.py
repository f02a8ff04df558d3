"""Streamed model inputs: windows over frames (coverage, padding, bounded memory) and aligned streams."""

from __future__ import annotations

from itertools import count, islice

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from converter.errors import ConversionError
from converter.video.clips import batch_tensor, iter_inputs, iter_windows
from converter.video.decode import iter_frames
from converter.video.flow import flow_clip
from converter.video.transforms import rgb_clip
from tests.video.samples import moving_shapes


@given(
    total=st.integers(0, 40),
    length=st.integers(1, 12),
    stride=st.integers(1, 15),
    pad=st.booleans(),
)
def test_windows_are_consecutive_items_every_stride_and_the_tail_covers_the_rest(total, length, stride, pad):
    windows = list(iter_windows(range(total), length, stride, length if pad else None))
    for index, window in enumerate(windows):
        assert window.start == index * stride
        assert len(window.items) == length
        real = window.items[: window.frames]
        assert real == list(range(window.start, window.stop))
        assert window.items == [real[i % len(real)] for i in range(length)]  # looped
    full = [w for w in windows if w.frames == length]
    assert full == windows[: len(full)] and len(windows) - len(full) <= 1
    covered = {i for w in windows for i in range(w.start, w.stop)}
    last_start = max(((total - length) // stride) * stride, -1) if total >= length else -1
    expected_full = (
        set() if last_start < 0 else {i for s in range(0, last_start + 1, stride) for i in range(s, s + length)}
    )
    assert {i for w in full for i in range(w.start, w.stop)} == expected_full
    if pad and stride <= length:
        assert covered == set(range(total))  # nothing left out, and a padded tail only when needed
    if not pad:
        assert covered == expected_full
    if windows and windows[-1].frames < length:
        assert windows[-1].stop == total and not set(range(windows[-1].start, total)) <= expected_full


def test_windows_stream_an_endless_source():
    windows = list(islice(iter_windows(count(), 5, 3, 5), 4))
    assert [w.items for w in windows] == [list(range(s, s + 5)) for s in (0, 3, 6, 9)]


def test_a_short_tail_is_looped_to_pad_to_only():
    tail = list(iter_windows(range(12), 10, 10, pad_to=4))[-1]
    assert (tail.start, tail.frames, tail.items) == (10, 2, [10, 11, 10, 11])


def test_windows_need_positive_sizes():
    with pytest.raises(ConversionError, match="at least 1"):
        list(iter_windows(range(3), 0, 1, None))


def test_one_decode_gives_both_streams_as_separate_passes_would(tmp_path, write_video):
    video = write_video(tmp_path / "shapes.mp4", moving_shapes(6))
    pairs = list(iter_inputs(video, ("rgb", "flow"), flow_method="dis"))
    frames = list(iter_frames(video))
    assert len(pairs) == len(frames) == 6
    np.testing.assert_array_equal(np.stack([p[0] for p in pairs]), rgb_clip(frames))
    np.testing.assert_array_equal(np.stack([p[1] for p in pairs]), flow_clip(frames, "dis"))
    with pytest.raises(ConversionError, match="streams must be among"):
        iter_inputs(video, ("depth",))


def test_batch_tensor_is_batch_channels_time_height_width():
    clips = [[np.full((4, 5, 3), 10 * b + t, np.float32) for t in range(2)] for b in range(3)]
    tensor = batch_tensor(clips)
    assert tuple(tensor.shape) == (3, 3, 2, 4, 5) and tensor.is_contiguous()
    assert tensor[2, 1, 1].unique().tolist() == [21.0]
