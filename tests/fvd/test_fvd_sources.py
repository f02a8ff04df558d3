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


def _write_avi(path, frames):
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def test_ucf101_like_tree_is_searched_recursively(tmp_path):
    """UCF-101/<class>/<video>.avi: every video found, in natural order of the paths, recorded by name."""
    pytest.importorskip("av")
    from converter.fvd import compute
    from tests.fvd.tiny import FrameMeans

    rng = np.random.default_rng(1)
    root = tmp_path / "UCF-101"
    names = ["ApplyEyeMakeup/v_ApplyEyeMakeup_g10_c01.avi", "ApplyEyeMakeup/v_ApplyEyeMakeup_g2_c01.avi"]
    names += ["Biking/v_Biking_g01_c01.avi", "YoYo/v_YoYo_g01_c01.avi"]
    for name in names:
        _write_avi(root / name, rng.integers(0, 256, (9, 16, 16, 3), dtype=np.uint8))
    (root / "YoYo" / "readme.txt").write_text("not a video")
    (root / ".hidden").mkdir()
    _write_avi(root / ".hidden" / "skip.avi", np.zeros((9, 16, 16, 3), np.uint8))
    source = open_source(root)
    order = [source.item_name(i) for i in range(len(source))]
    assert order == [names[1], names[0], names[2], names[3]]  # g2 before g10
    assert all(v.shape == (9, 16, 16, 3) for v in _read(source).values())
    result = compute(root, root, model=FrameMeans(9))
    assert result.videos["real"] == order and result.n_real == 4


def test_skytimelapse_like_tree_of_frame_folders(tmp_path, videos):
    """<video>/<clip>/<frame>.png: each clip folder (only images) is one video, deeper folders too; natural
    order (0 < 07, _2 < _10)."""
    from PIL import Image

    clips = ["0EDsZmFcbB8/0EDsZmFcbB8_1", "07U1fSrk9oI/07U1fSrk9oI_2", "07U1fSrk9oI/07U1fSrk9oI_10", "a/b/c/d"]
    for i, clip in enumerate(clips):
        (tmp_path / clip).mkdir(parents=True)
        for k in range(5):
            Image.fromarray(videos[i, k]).save(tmp_path / clip / f"{k:05d}.png")
    (tmp_path / "a" / "loop").symlink_to(tmp_path, target_is_directory=True)  # searched once, not forever
    source = open_source(tmp_path)
    assert [source.item_name(i) for i in range(len(source))] == clips
    got = _read(source)
    assert all(np.array_equal(got[i], videos[i]) for i in range(4))


def test_max_videos_samples_with_the_seed():
    from converter.fvd.features import select_videos

    a = select_videos(100, 10, "random", seed=0)
    assert a == select_videos(100, 10, "random", seed=0) and a == sorted(a) and len(set(a)) == 10
    assert a != select_videos(100, 10, "random", seed=1)
    assert select_videos(100, 10, "first", seed=5) == list(range(10))
    assert select_videos(5, 10, "random", seed=0) == list(range(5))


def test_max_videos_sample_is_recorded(tmp_path):
    from converter.fvd import compute
    from converter.fvd.features import select_videos
    from tests.fvd.tiny import FrameMeans

    rng = np.random.default_rng(2)
    np.save(tmp_path / "v.npy", rng.integers(0, 256, (12, 9, 8, 8, 3), dtype=np.uint8))
    result = compute(tmp_path / "v.npy", tmp_path / "v.npy", model=FrameMeans(9), max_videos=5, seed=3)
    chosen = [f"{tmp_path / 'v.npy'}[{i}]" for i in select_videos(12, 5, "random", 3)]
    assert result.videos["real"] == chosen == result.videos["fake"] and result.settings["max_videos"] == 5
