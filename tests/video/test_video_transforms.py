"""The RGB recipe on frames of known pixel values."""

from __future__ import annotations

from itertools import count, islice

import numpy as np
import pytest

from converter.video.transforms import (
    CROP,
    MIN_FRAMES,
    center_crop,
    loop_pad,
    resize_short_side,
    rgb_clip,
    rgb_frame,
    to_unit_range,
)


def coordinates(height: int, width: int) -> np.ndarray:
    """R = column, G = row (mod 256), B = 255 - column: every pixel says where it came from."""
    rows, cols = np.mgrid[:height, :width]
    return np.stack([cols % 256, rows % 256, 255 - cols % 256], axis=-1).astype(np.uint8)


def test_known_pixels_give_known_inputs_when_the_short_side_is_already_256():
    frame = coordinates(256, 300)  # no resize; crop rows 16..239, columns 38..261
    out = rgb_frame(frame)
    assert out.shape == (CROP, CROP, 3) and out.dtype == np.float32
    rows, cols = np.mgrid[16:240, 38:262]
    want = np.stack([cols % 256, rows, 255 - cols % 256], axis=-1) / 127.5 - 1
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-6)


def test_the_extremes_map_exactly_to_minus_one_and_one():
    values = to_unit_range(np.array([0, 255, 51], np.uint8))
    assert values.dtype == np.float32
    assert values[0] == -1.0 and values[1] == 1.0
    assert values[2] == pytest.approx(51 / 127.5 - 1, abs=1e-7)


@pytest.mark.parametrize(
    ("shape", "resized"), [((100, 150), (256, 384)), ((150, 100), (384, 256)), ((480, 640), (256, 341))]
)
def test_the_short_side_becomes_256_keeping_the_aspect(shape, resized):
    assert resize_short_side(np.zeros((*shape, 3), np.uint8)).shape == (*resized, 3)


def test_resizing_is_bilinear_with_half_pixel_centres():
    # A horizontal ramp (value = column), doubled: output column c samples input x = (c + 0.5) / 2 - 0.5,
    # and the bilinear value of a ramp is the ramp itself there (away from the clamped borders).
    width = 160
    frame = np.repeat(np.repeat(np.arange(width, dtype=np.uint8)[None, :, None], 128, 0), 3, 2)
    resized = resize_short_side(frame)
    assert resized.shape == (256, 2 * width, 3) and resized.dtype == np.uint8
    columns = np.arange(1, 2 * width - 1)
    np.testing.assert_allclose(resized[100, columns, 0], (columns + 0.5) / 2 - 0.5, atol=0.5)


def test_a_larger_frame_is_resized_then_centre_cropped():
    frame = np.zeros((512, 1024, 3), np.uint8)
    frame[:, 512:] = 255  # right half white: after the 2x reduction the crop is columns 144..367 of 512
    out = rgb_frame(frame)
    assert (out[:, :112] == -1).all() and (out[:, 112:] == 1).all()


def test_center_crop_takes_the_middle_and_rounds_down():
    array = coordinates(230, 231)
    crop = center_crop(array)
    assert crop.shape == (CROP, CROP, 3)
    assert crop[0, 0, 0] == 3 and crop[0, 0, 1] == 3  # (230 - 224) // 2 and (231 - 224) // 2


def test_rgb_clip_stacks_frames():
    frames = [np.full((256, 256, 3), v, np.uint8) for v in (0, 255)]
    clip = rgb_clip(iter(frames))
    assert clip.shape == (2, CROP, CROP, 3) and clip.dtype == np.float32
    assert (clip[0] == -1).all() and (clip[1] == 1).all()
    assert rgb_clip([]).shape == (0, CROP, CROP, 3)


def test_loop_pad_replays_a_short_clip_from_its_start():
    assert MIN_FRAMES == 9  # Mixed_5c has ceil(T / 8) steps and the logits pool 2 of them
    assert list(loop_pad("abc")) == list("abcabcabc")
    assert list(loop_pad("abcd", 6)) == list("abcdab")
    assert list(loop_pad(range(12))) == list(range(12))
    assert list(loop_pad([])) == []


def test_loop_pad_streams():
    assert list(islice(loop_pad(count()), 20)) == list(range(20))


def test_min_frames_is_the_fewest_frames_i3d_gives_logits_for():
    torch = pytest.importorskip("torch")
    from converter.models.i3d import InceptionI3d

    model = InceptionI3d(num_classes=2).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, MIN_FRAMES, CROP, CROP)).shape == (1, 2)
        with pytest.raises((RuntimeError, ValueError)):
            model(torch.zeros(1, 3, MIN_FRAMES - 1, CROP, CROP))
