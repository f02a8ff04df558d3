"""The fast path's cache: one checked file per weights and endpoint under ``$I3D_CONVERTER_HOME/fast``."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.mark.slow  # a second full export (~30 s quiet, minutes on a loaded machine): `pytest -m slow tests/fast`
def test_features_within_1e4_relative_and_cached_once(eager_model, fast_model, tmp_path, monkeypatch) -> None:
    """Mixed_5c (the ``features`` default): exported and checked on first use with one message, then
    read from the cache by a new wrapper without exporting again."""
    from converter.fast import FastI3D
    from converter.fast.artifacts import fast_dir

    x = torch.rand(1, 3, 16, 224, 224, generator=torch.Generator().manual_seed(7)) * 2 - 1
    with torch.no_grad():
        want = eager_model.endpoints(x, ["Mixed_5c"])["Mixed_5c"]
        got = fast_model.endpoints(x, ["Mixed_5c"])["Mixed_5c"]
    assert got.shape == want.shape == (1, 1024, 2, 7, 7)
    assert np.abs((got - want).numpy()).max() <= 1e-4 * np.abs(want.numpy()).max()
    files = sorted(p.name for p in fast_dir().glob("*.onnx"))
    assert any("-Mixed_5c-dynbthw-" in name for name in files)
    lines: list[str] = []
    again = FastI3D(eager_model, log=lines.append)
    with torch.no_grad():
        assert torch.equal(again.endpoints(x, ["Mixed_5c"])["Mixed_5c"], got)
    assert lines == []


def test_cache_home_is_the_environment_variable_or_the_user_cache(monkeypatch, tmp_path) -> None:
    from pathlib import Path

    from converter.fast.artifacts import fast_dir
    from converter.user_cache import cache_home

    monkeypatch.setenv("I3D_CONVERTER_HOME", str(tmp_path / "home"))
    assert cache_home() == tmp_path / "home" and fast_dir() == tmp_path / "home" / "fast"
    monkeypatch.delenv("I3D_CONVERTER_HOME")
    assert cache_home() == Path.home() / ".cache" / "i3d-converter"


def test_cache_name_holds_weights_endpoint_and_versions() -> None:
    import onnx

    from converter.fast.artifacts import cache_name

    name = cache_name("ab" * 32, "Mixed_5c")
    assert name.startswith("i3d-" + "ab" * 16 + "-Mixed_5c-dynbthw-c") and name.endswith(".onnx")
    assert f"onnx{onnx.__version__}" in name and "/" not in name and "+" not in name
    assert cache_name("cd" * 32, "Mixed_5c") != name != cache_name("ab" * 32, "Logits")


def test_first_use_says_what_it_costs_once(eager_model, tmp_path, monkeypatch) -> None:
    from converter.fast import FastI3D

    monkeypatch.setenv("I3D_CONVERTER_HOME", str(tmp_path))
    lines: list[str] = []
    model = FastI3D(eager_model, log=lines.append)
    x = torch.rand(1, 3, 5, 30, 31, generator=torch.Generator().manual_seed(8)) * 2 - 1
    with torch.no_grad():
        first = model.endpoints(x, ["Conv3d_1a_7x7"])["Conv3d_1a_7x7"]
        second = model.endpoints(x, ["Conv3d_1a_7x7"])["Conv3d_1a_7x7"]
        want = eager_model.endpoints(x, ["Conv3d_1a_7x7"])["Conv3d_1a_7x7"]
    assert torch.equal(first, second) and np.abs((first - want).numpy()).max() <= 1e-4
    assert len(lines) == 2 and lines[0].startswith("fast path: exporting I3D up to Conv3d_1a_7x7 for OpenVINO")
    assert lines[1].startswith("fast path: Conv3d_1a_7x7 ready in ") and str(tmp_path / "fast") in lines[1]


def test_a_file_openvino_gets_wrong_is_never_cached(eager_model, tmp_path, monkeypatch) -> None:
    """The check before first use: a runner off by 1e-3 makes it fail and leaves no file behind."""
    from converter.errors import ConversionError
    from converter.export.graph import EndpointNet
    from converter.fast import artifacts

    monkeypatch.setenv("I3D_CONVERTER_HOME", str(tmp_path))
    net = EndpointNet(eager_model, "Conv3d_1a_7x7").eval()

    def off_by_1e3(path):
        return lambda x: net(x) + 1e-3

    with pytest.raises(ConversionError, match="OpenVINO differs from the eager model"):
        artifacts.cached_onnx(eager_model, "00" * 32, "Conv3d_1a_7x7", off_by_1e3, log=lambda line: None)
    assert list((tmp_path / "fast").iterdir()) == []


def test_an_unwritable_cache_is_one_clear_error(eager_model, tmp_path, monkeypatch) -> None:
    from converter.errors import ConversionError
    from converter.fast import FastI3D

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("I3D_CONVERTER_HOME", str(blocker))
    with torch.no_grad(), pytest.raises(ConversionError, match=r"cannot write the fast path's cache .*--backend eager"):
        FastI3D(eager_model, log=lambda line: None).endpoints(torch.zeros(1, 3, 5, 30, 31), ["Conv3d_1a_7x7"])
