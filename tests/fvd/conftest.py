"""FVD fixtures: DeepMind's TF-Hub graph (the reference), our weights converted from that module, and small
generated video sets whose features are computed once per session (TF on 224² clips costs ~1 s each)."""

from __future__ import annotations

import numpy as np
import pytest

# name -> (videos, frames, height, width); N not a multiple of 16, sizes around and far from 224
VIDEO_SETS = {"real": (5, 9, 64, 64), "fake": (6, 9, 72, 96), "wide": (2, 9, 240, 320), "kitti": (1, 9, 375, 1242)}


def generated_videos(n: int, t: int, h: int, w: int, seed: int) -> np.ndarray:
    """uint8 (n, t, h, w, 3): moving coloured gradients and blobs plus noise — varied, not constant."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    videos = np.empty((n, t, h, w, 3), np.uint8)
    for i in range(n):
        phase, speed, colour = rng.uniform(0, 6.3), rng.uniform(0.5, 3), rng.uniform(0, 255, 3)
        cy, cx, radius = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.1, 0.4) * min(h, w)
        for k in range(t):
            wave = 127 + 120 * np.sin(x / w * 6 + y / h * 3 + phase + k * speed * 0.3)
            blob = ((y - cy - k * speed) ** 2 + (x - cx + k * speed) ** 2) < radius**2
            for c in range(3):
                frame = wave * (c + 1) / 3 + np.where(blob, colour[c] - 100, 0) + rng.normal(0, 12, (h, w))
                videos[i, k, :, :, c] = np.clip(frame, 0, 255)
    return videos


@pytest.fixture(scope="session")
def video_sets() -> dict[str, np.ndarray]:
    return {name: generated_videos(*shape, seed=i) for i, (name, shape) in enumerate(VIDEO_SETS.items())}


@pytest.fixture(scope="session")
def black_white() -> dict[str, np.ndarray]:
    """One black and one white video of 30 frames at 64×64 (the published figure's videos)."""
    return {"black": np.zeros((1, 30, 64, 64, 3), np.uint8), "white": np.full((1, 30, 64, 64, 3), 255, np.uint8)}


@pytest.fixture(scope="session")
def hub_signature(tfhub_module):
    hub = pytest.importorskip("tensorflow_hub")
    return hub.load(str(tfhub_module)).signatures["default"]


@pytest.fixture(scope="session")
def fvd_weights(tfhub_module, tmp_path_factory):
    """Our weights, converted from the TF-Hub module itself."""
    from converter.conversion import convert

    path = tmp_path_factory.mktemp("fvd-weights") / "i3d-kinetics-400.safetensors"
    convert(str(tfhub_module), path)
    return path


@pytest.fixture(scope="session", params=["eager", "fast"])
def detector(request, fvd_weights):
    """The detector on each backend: every FVD exactness test holds for the fast path too (its export is
    shared with tests/fast: the same weights)."""
    from converter.fast import FastI3D, accelerate
    from converter.fvd import load_detector

    model = accelerate(load_detector(fvd_weights), request.param, log=lambda line: None)
    assert isinstance(model, FastI3D) == (request.param == "fast"), "the cpu-fast extra is missing: `make venv`"
    return model


@pytest.fixture(scope="session")
def tf_features(hub_signature, video_sets, black_white) -> dict[str, np.ndarray]:
    """The hub graph's (N, 400) features of every set, through TF's own resize."""
    from tests.fvd.tf_pipeline import embed

    return {name: embed(hub_signature, videos) for name, videos in {**video_sets, **black_white}.items()}
