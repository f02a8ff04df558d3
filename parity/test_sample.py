"""The cricket sample: official .npy arrays when given, else the GIFs mapped to [-1, 1] the documented way."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from converter.errors import ConversionError
from parity.sample import FRAMES, SIZE, gif_to_unit_range, load_sample


def test_official_gifs_give_79_frames_in_unit_range(kinetics_dir) -> None:
    sample = load_sample(kinetics_dir, npy_dir=None)
    assert sample.rgb.shape == (1, FRAMES, SIZE, SIZE, 3) and sample.flow.shape == (1, FRAMES, SIZE, SIZE, 2)
    for clip in (sample.rgb, sample.flow):
        assert clip.dtype == np.float32 and -1.0 <= clip.min() < clip.max() <= 1.0
    assert "GIF" in sample.source


def test_gif_frames_map_to_unit_range(tmp_path) -> None:
    values = [0, 51, 255]
    frames = [Image.new("RGB", (4, 3), (v, 255 - v, 127)) for v in values]
    frames[0].save(tmp_path / "clip.gif", save_all=True, append_images=frames[1:], duration=40, loop=0)
    clip = gif_to_unit_range(tmp_path / "clip.gif")
    assert clip.shape == (1, 3, 3, 4, 3)
    np.testing.assert_allclose(clip[0, :, 0, 0, 0], [v / 255 * 2 - 1 for v in values], atol=1e-6)
    np.testing.assert_allclose(clip[0, :, 0, 0, 1], [(255 - v) / 255 * 2 - 1 for v in values], atol=1e-6)


def test_npy_folder_takes_precedence_and_is_checked(kinetics_dir, tmp_path) -> None:
    rgb = np.zeros((1, FRAMES, SIZE, SIZE, 3), np.float32)
    np.save(tmp_path / "v_CricketShot_g04_c01_rgb.npy", rgb)
    with pytest.raises(ConversionError, match="v_CricketShot_g04_c01_flow.npy.*no such file"):
        load_sample(kinetics_dir, tmp_path)
    np.save(tmp_path / "v_CricketShot_g04_c01_flow.npy", np.zeros((1, FRAMES, SIZE, SIZE, 3), np.float32))
    with pytest.raises(ConversionError, match=r"flow sample has shape \(1, 79, 224, 224, 3\)"):
        load_sample(kinetics_dir, tmp_path)
    np.save(tmp_path / "v_CricketShot_g04_c01_flow.npy", np.full((1, FRAMES, SIZE, SIZE, 2), 1.5, np.float32))
    with pytest.raises(ConversionError, match="not within"):
        load_sample(kinetics_dir, tmp_path)
    np.save(tmp_path / "v_CricketShot_g04_c01_flow.npy", np.full((1, FRAMES, SIZE, SIZE, 2), 0.5, np.float32))
    sample = load_sample(kinetics_dir, tmp_path)
    assert ".npy" in sample.source and sample.flow.max() == 0.5


def test_unreadable_gif_names_the_file(tmp_path) -> None:
    (tmp_path / "bad.gif").write_bytes(b"GIF89a but not really")
    with pytest.raises(ConversionError, match="bad.gif: not a readable GIF"):
        gif_to_unit_range(tmp_path / "bad.gif")
