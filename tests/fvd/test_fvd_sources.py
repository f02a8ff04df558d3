"""FVD's inputs: arrays, .npy (memory-mapped), .npz (streamed, compressed or not), folders of videos."""

from __future__ import annotations

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.fvd.sources import ArrayFileSource, FolderSource, open_source


@pytest.fixture
def videos():
    return np.random.default_rng(0).integers(0, 256, (4, 5, 6, 7, 3), dtype=np.uint8)


def _read(source, indices=None):
    return dict(source.videos(range(len(source)) if indices is None else indices))


def test_npy_is_read_video_by_video(tmp_path, videos):
    np.save(tmp_path / "v.npy", videos)
    source = open_source(tmp_path / "v.npy")
    assert isinstance(source, ArrayFileSource)
    assert len(source) == 4 and all(np.array_equal(v, videos[i]) for i, v in _read(source).items())
    assert sorted(_read(source, [3, 0])) == [0, 3]
    (tmp_path / "cut.npy").write_bytes((tmp_path / "v.npy").read_bytes()[:-10])
    with pytest.raises(ConversionError, match="cut.npy: truncated at video 3"):
        _read(open_source(tmp_path / "cut.npy"))


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_streams_video_by_video(tmp_path, videos, save):
    save(tmp_path / "v.npz", videos=videos.astype(np.float32))
    source = open_source(tmp_path / "v.npz")
    assert isinstance(source, ArrayFileSource) and len(source) == 4
    got = _read(source, [1, 3])  # a shard skips videos
    assert sorted(got) == [1, 3] and all(np.array_equal(v, videos[i]) for i, v in got.items())


def test_npz_errors_name_the_file(tmp_path, videos):
    np.savez(tmp_path / "two.npz", a=videos, b=videos)
    with pytest.raises(ConversionError, match=r"two.npz: holds 2 arrays \(a, b\); name one 'videos'"):
        open_source(tmp_path / "two.npz")
    np.savez(tmp_path / "flat.npz", videos=videos[0])
    with pytest.raises(ConversionError, match=r"flat.npz:videos: expected videos \(N, T, H, W, 3\)"):
        open_source(tmp_path / "flat.npz")
    with pytest.raises(ConversionError, match="no such file"):
        open_source(tmp_path / "missing.npy")


def test_folder_of_gifs_and_frame_folders(tmp_path, videos):
    from PIL import Image

    Image.fromarray(videos[0, 0]).save(tmp_path / "b.gif", save_all=True, append_images=[])
    frames = tmp_path / "a10"
    frames.mkdir()
    for k in range(5):
        Image.fromarray(videos[1, k]).save(frames / f"{k}.png")
    (tmp_path / "notes.txt").write_text("not a video")
    source = open_source(tmp_path)
    assert isinstance(source, FolderSource) and [p.name for p in source.items] == ["a10", "b.gif"]
    got = _read(source)
    assert np.array_equal(got[0], videos[1]) and got[1].shape == (1, 6, 7, 3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConversionError, match="no videos"):
        open_source(tmp_path / "empty")


def test_command_checks_both_sides_before_computing(tmp_path, capsys):
    """A missing FAKE is named before REAL's features are computed (no weights are even looked for)."""
    from converter.cli import main

    np.save(tmp_path / "real.npy", np.zeros((2, 9, 8, 8, 3), np.uint8))
    assert main(["fvd", str(tmp_path / "real.npy"), str(tmp_path / "nope.npy"), "--weights", "none.safetensors"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nope.npy'}: no such file or folder"
