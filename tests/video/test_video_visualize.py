"""``visualize``: filter grids that follow the kernels' signs over time, activation grids that follow
the strongest channels, and the GIF/PNG files the command writes for RGB and flow models."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load_file

from converter.cli import main
from converter.errors import ConversionError
from converter.models.i3d_spec import STEM_WEIGHT, endpoint_size
from converter.video.visualize import LUT, TILE, activation_frames, filter_frames, grid
from tests.video.samples import moving_shapes, write_random_i3d


def frames_of(path) -> list[np.ndarray]:
    with Image.open(path) as image:
        out = []
        for index in range(image.n_frames):
            image.seek(index)
            out.append(np.asarray(image.convert("RGB")))
        return out


def test_grid_places_tiles_row_by_row_with_white_gaps():
    tiles = np.stack([np.full((3, 4, 3), v, np.uint8) for v in (10, 20, 30)])
    image = grid(tiles, columns=2, gap=1)
    assert image.shape == (2 * 4 + 1, 2 * 5 + 1, 3)
    assert image[1, 1, 0] == 10 and image[1, 6, 0] == 20 and image[5, 1, 0] == 30
    assert image[0].min() == 255 and image[5, 6, 0] == 255  # gap and empty slot


def test_filter_tiles_follow_each_kernels_sign_over_time():
    weight = np.zeros((2, 3, 3, 7, 7), np.float32)
    weight[0, :, 0] = 0.5  # positive on the first tap only: white, then grey
    weight[1, 0, 2] = -2.0  # red channel negative on the last tap: cyan-ish
    images = filter_frames(weight, columns=2)
    zoom = TILE // 7
    assert len(images) == 3 and images[0].shape == (zoom * 7 + 4, 2 * (zoom * 7 + 2) + 2, 3)
    first, second = (2, 2), (2, 2 + zoom * 7 + 2)  # top-left pixel of each tile
    assert images[0][first].tolist() == [255, 255, 255] and images[1][first].tolist() == [128, 128, 128]
    assert images[2][second].tolist() == [0, 128, 128] and images[0][second].tolist() == [128, 128, 128]
    two_channel = filter_frames(weight[:, :2], columns=2)  # flow: x red, y green, blue grey
    assert two_channel[0][first].tolist() == [255, 255, 128]
    with pytest.raises(ConversionError, match="3D conv kernel"):
        filter_frames(weight[0])


def test_activation_grids_show_the_most_active_channels_scaled_over_the_clip():
    activation = np.zeros((4, 2, 7, 7), np.float32)
    activation[2, 1] = 5.0  # most active, only in the second step
    activation[0, :, 3, 3] = 1.0  # second: one pixel, both steps
    frames = np.zeros((8, 224, 224, 3), np.uint8)
    frames[4:] = 200  # the second step's input frame is light
    images, chosen = activation_frames(frames, activation, channels=2)
    assert chosen == [2, 0] and len(images) == 2
    assert images[0].shape == (2 * (TILE + 2) + 2,) * 2 + (3,)  # 2x2: input, channel 2 / channel 0, empty

    def pixel(step: int, tile: int, y: int, x: int) -> list[int]:  # (y, x) of a 7x7 map in tile ``tile``
        zoom = TILE // 7
        top, left = 2 + (tile // 2) * (TILE + 2), 2 + (tile % 2) * (TILE + 2)
        return images[step][top + y * zoom, left + x * zoom].tolist()

    assert pixel(0, 0, 0, 0) == [0, 0, 0] and pixel(1, 0, 0, 0) == [200] * 3  # the input frame of each step
    assert pixel(0, 1, 0, 0) == LUT[0].tolist() and pixel(1, 1, 0, 0) == LUT[255].tolist()
    assert pixel(0, 2, 3, 3) == pixel(1, 2, 3, 3) == LUT[255].tolist() and pixel(1, 2, 0, 0) == LUT[0].tolist()


def test_the_command_writes_filter_and_activation_pictures(tmp_path, random_state, write_video, capsys):
    weights = write_random_i3d(tmp_path / "rgb.safetensors", random_state(num_classes=3), 3, 3)
    out = tmp_path / "pictures"
    assert main(["visualize", "filters", "--weights", str(weights), "--out", str(out)]) == 0
    gif, png = out / "rgb_Conv3d_1a_7x7.gif", out / "rgb_Conv3d_1a_7x7.png"
    taps = frames_of(gif)
    assert len(taps) == 7 and taps[0].shape == (8 * (TILE + 2) + 2,) * 2 + (3,)
    assert np.array_equal(np.asarray(Image.open(png).convert("RGB")), filter_frames(load_file(weights)[STEM_WEIGHT])[3])

    video = write_video(tmp_path / "shapes.mp4", moving_shapes(8))
    args = ["visualize", "activations", str(video), "--weights", str(weights), "--out", str(out), "--frames", "6"]
    assert main([*args, "--endpoints", "Conv3d_1a_7x7", "Mixed_3b", "--channels", "5"]) == 0
    printed = capsys.readouterr().out
    for endpoint, channels in (("Conv3d_1a_7x7", 64), ("Mixed_3b", 256)):
        steps = endpoint_size(endpoint, (6, 224, 224))[0]
        assert len(frames_of(out / f"shapes_{endpoint}.gif")) == steps
        assert (out / f"shapes_{endpoint}.png").is_file()
        assert f"{endpoint} ({channels}x{steps}x" in printed
    assert main([*args, "--endpoints", "Logits"]) == 2
    assert "endpoints must be among" in capsys.readouterr().err


def test_flow_models_are_drawn_too(tmp_path, random_state, write_video):
    weights = write_random_i3d(tmp_path / "flow.safetensors", random_state(num_classes=3, in_channels=2), 3, 2)
    video = write_video(tmp_path / "shapes.mp4", moving_shapes(4))
    out = tmp_path / "pictures"
    args = ["visualize", "activations", str(video), "--weights", str(weights), "--out", str(out)]
    assert main([*args, "--endpoints", "Conv3d_1a_7x7", "--flow-method", "dis"]) == 0
    assert main(["visualize", "filters", "--weights", str(weights), "--out", str(out)]) == 0
    assert len(frames_of(out / "shapes_Conv3d_1a_7x7.gif")) == 2 and len(frames_of(out / "flow_Conv3d_1a_7x7.gif")) == 7
