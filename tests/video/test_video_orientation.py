"""Frames come out upright: display-matrix rotations and mirrors of videos, EXIF orientations of images."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.video.decode import Orientation, iter_frames
from converter.video.orientation import from_display_matrix

# An upright picture that no rotation or mirror maps onto itself: four distinct corners, not square.
UPRIGHT = np.zeros((24, 40, 3), np.uint8)
UPRIGHT[:6, :6] = (255, 0, 0)  # top left red
UPRIGHT[:6, -6:] = (0, 255, 0)  # top right green
UPRIGHT[-6:, :6] = (0, 0, 255)  # bottom left blue
UPRIGHT[-6:, -6:] = (255, 255, 255)  # bottom right white
UPRIGHT[10:14, 4:36] = (128, 128, 128)


def write_rotated(path: Path, stored: np.ndarray, degrees: int, hflip: bool = False, vflip: bool = False) -> Path:
    """A lossless (RGB H.264) MP4 of ``stored`` whose display matrix says: rotate ``degrees``
    counter-clockwise, then mirror (as a phone records a clip shot upright)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264rgb", rate=25)
        stream.width, stream.height, stream.pix_fmt = stored.shape[1], stored.shape[0], "rgb24"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        stream.set_display_rotation(degrees, hflip=hflip, vflip=vflip)
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")))
        container.mux(stream.encode())
    return path


def stored_for(degrees: int, hflip: bool, vflip: bool) -> np.ndarray:
    """What the camera stores so that rotating by ``degrees`` CCW then mirroring shows UPRIGHT."""
    picture = UPRIGHT
    if vflip:
        picture = picture[::-1]
    if hflip:
        picture = picture[:, ::-1]
    return np.ascontiguousarray(np.rot90(picture, -degrees // 90))


@pytest.mark.parametrize(
    ("degrees", "hflip", "vflip"), list(itertools.product((0, 90, 180, 270), (False, True), (False, True)))
)
def test_display_matrix_gives_upright_frames(tmp_path: Path, degrees: int, hflip: bool, vflip: bool) -> None:
    stored = stored_for(degrees, hflip, vflip)
    video = write_rotated(tmp_path / "phone.mp4", stored, degrees, hflip, vflip)
    orientation = Orientation()
    frames = list(iter_frames(video, orientation=orientation))
    assert len(frames) == 3
    for frame in frames:
        np.testing.assert_array_equal(frame, UPRIGHT)
    assert bool(orientation.describe()) == (not np.array_equal(stored, UPRIGHT))
    kept = list(iter_frames(video, autorotate=False))
    np.testing.assert_array_equal(kept[0], stored)


def test_portrait_phone_video_is_named(tmp_path: Path) -> None:
    video = write_rotated(tmp_path / "phone.mp4", stored_for(90, False, False), 90)
    orientation = Orientation()
    (first, *_) = iter_frames(video, orientation=orientation)
    assert first.shape == (24, 40, 3)
    assert orientation.describe() == "rotated 90° counter-clockwise (display matrix)"


# Orientation tag → how a viewer turns the stored image (written independently of the code's table).
EXIF_VIEW = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("tag", range(1, 9))
@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_exif_orientation_gives_upright_frames(tmp_path: Path, tag: int, suffix: str) -> None:
    from PIL import Image

    # The stored image is the one the viewer's turn makes upright: invert it by trying all 8 turns.
    stored = next(
        np.ascontiguousarray(candidate)
        for candidate in (view(UPRIGHT) for view in EXIF_VIEW.values())
        if np.array_equal(EXIF_VIEW[tag](candidate), UPRIGHT)
    )
    folder = tmp_path / "frames"
    folder.mkdir()
    exif = Image.Exif()
    exif[0x0112] = tag
    for index in (1, 2):
        Image.fromarray(stored).save(
            folder / f"{index}{suffix}", exif=exif, **({"quality": 100} if suffix == ".jpg" else {})
        )
    orientation = Orientation()
    frames = list(iter_frames(folder, fps=None, orientation=orientation))
    for frame in frames:
        assert frame.shape == UPRIGHT.shape
        if suffix == ".png":
            np.testing.assert_array_equal(frame, UPRIGHT)
        else:  # JPEG blurs edges and chroma: compare the middles of the four corner blocks
            for rows, cols in itertools.product((slice(2, 4), slice(-4, -2)), repeat=2):
                assert np.abs(frame[rows, cols].astype(int) - UPRIGHT[rows, cols]).max() <= 40
    assert ("EXIF orientation" in orientation.describe()) == (tag != 1)
    kept = next(iter_frames(folder, fps=None, autorotate=False))
    assert kept.shape == stored.shape


def test_odd_angle_is_refused_not_ignored() -> None:
    import math

    angle = math.radians(30)
    matrix = np.array([math.cos(angle), -math.sin(angle), 0, math.sin(angle), math.cos(angle), 0, 0, 0, 1 / 4])
    raw = (matrix * [65536, 65536, 1 << 30, 65536, 65536, 1 << 30, 65536, 65536, 1 << 30]).round().astype("<i4")
    with pytest.raises(ConversionError, match="not a multiple of 90°.*--no-autorotate"):
        from_display_matrix(raw.tobytes(), "clip.mp4")
    assert not from_display_matrix(None)


def test_preprocess_sees_a_portrait_phone_clip_upright_and_says_so(tmp_path: Path, write_folder, texture) -> None:
    """The whole recipe (resize short side, centre crop) on the upright picture: the phone clip gives the
    same arrays as the same frames stored upright; --no-autorotate gives the stored (sideways) ones."""
    from converter.cli import main
    from converter.video.preprocess import Settings, preprocess

    upright = [np.repeat(np.roll(texture(64, 40, 3), 3 * t, axis=0)[..., None], 3, axis=2) for t in range(4)]
    data = tmp_path / "data"
    (data / "videos" / "raw" / "up").mkdir(parents=True)
    (data / "classes.txt").write_text("up\n")
    write_rotated_frames(data / "videos" / "raw" / "up" / "phone.mp4", [np.rot90(f, -1) for f in upright], 90)
    write_folder(data / "images" / "raw" / "up" / "upright", upright)
    summary = preprocess(data, settings=Settings(flow_method="dis", min_frames=1), val_ratio=0.0, progress=False)
    assert [o.status for o in summary.outcomes] == ["done", "done"]
    assert "up/phone: frames rotated 90° counter-clockwise (display matrix)" in summary.lines()
    clips = {p.relative_to(data).parts[0]: p.parent for p in data.rglob("rgb.npy")}
    phone, folder = (np.load(clips[kind] / "rgb.npy") for kind in ("videos", "images"))
    np.testing.assert_array_equal(phone, folder)

    out = tmp_path / "stored"
    args = ["preprocess", str(data), "--output", str(out), "--flow-method", "dis", "--min-frames", "1"]
    assert main([*args, "--no-autorotate", "--quiet", "--val-ratio", "0"]) == 0
    sideways = np.load(next((out / "videos").rglob("rgb.npy")))
    assert not np.allclose(sideways, phone, atol=0.1)


def write_rotated_frames(path: Path, frames: list[np.ndarray], degrees: int) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264rgb", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "rgb24"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        stream.set_display_rotation(degrees)
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())
    return path


def test_classify_says_when_it_turned_the_frames(tmp_path: Path, random_state) -> None:
    import json
    from contextlib import redirect_stdout
    from io import StringIO

    from converter.cli import main
    from tests.video.samples import moving_shapes, write_random_i3d

    weights = write_random_i3d(tmp_path / "rgb.safetensors", random_state(num_classes=3), 3, 3)
    video = write_rotated_frames(tmp_path / "phone.mp4", [np.rot90(f) for f in moving_shapes(3)], 270)
    reports = {}
    for flag in ([], ["--no-autorotate"]):
        out = StringIO()
        with redirect_stdout(out):
            assert main(["classify", str(video), "--weights", str(weights), "--json", *flag]) == 0
        reports[bool(flag)] = json.loads(out.getvalue())
    assert reports[False]["rotation"] == "rotated 90° clockwise (display matrix)"
    assert reports[True]["rotation"] == ""
    assert reports[False]["top"] != reports[True]["top"]  # the model saw different pictures
