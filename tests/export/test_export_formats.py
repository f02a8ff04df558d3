"""Each export format equals the eager model at many input sizes, not only the one it was recorded at.

Sizes: odd and even T, H/W in 193..224 and non-square for logits, batch 1 and 3. Exports are made once
per module (they are the slow part); the full model's torch.export and ONNX exports are slow tests, the
same formats are checked in CI on an intermediate endpoint and on the logits head alone.
"""

from __future__ import annotations

import pytest
import torch

from converter.errors import ConversionError
from converter.export import export_model, load
from converter.export.graph import EndpointNet, SymbolicLogits, input_ranges

pytest.importorskip("onnxruntime")

LOGITS_SIZES = [(1, 9, 193, 224), (3, 10, 224, 193), (1, 11, 201, 200), (1, 12, 224, 224), (1, 9, 208, 193)]
FEATURES = "Mixed_3c"
FEATURE_SIZES = [(1, 3, 9, 10), (3, 4, 17, 12), (1, 7, 33, 40), (1, 16, 64, 64), (1, 5, 23, 9)]
TOLERANCE = 1e-4


def clip(b: int, t: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, t, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture(scope="module")
def exported(random_i3d_model, tmp_path_factory):
    """Factory (format, endpoint) -> a loaded export, made once per module with one quick self-check."""
    made: dict[tuple[str, str], object] = {}

    def get(fmt: str, endpoint: str):
        if (fmt, endpoint) not in made:
            path = tmp_path_factory.mktemp("exports") / f"{endpoint}.{fmt}"
            logits = endpoint == "Logits"
            shape = (1, 9, 193, 201) if logits else (1, 8, 32, 30)
            checks = export_model(random_i3d_model, fmt, path, endpoint=endpoint, shape=shape, verify_shapes=[shape])
            assert checks and checks[0][1] <= TOLERANCE
            made[fmt, endpoint] = load(path, fmt)
        return made[fmt, endpoint]

    return get


@pytest.fixture(scope="module")
def eager(random_i3d_model):
    """(endpoint, size) -> the eager model's output, computed once."""
    cache: dict[tuple[str, tuple[int, ...]], torch.Tensor] = {}

    def get(endpoint: str, size: tuple[int, ...]) -> torch.Tensor:
        if (endpoint, size) not in cache:
            with torch.no_grad():
                cache[endpoint, size] = random_i3d_model.endpoints(clip(*size), [endpoint])[endpoint]
        return cache[endpoint, size]

    return get


def assert_matches_eager(runner, eager, endpoint: str, sizes) -> None:
    for size in sizes:
        with torch.no_grad():
            got = runner(clip(*size))
        want = eager(endpoint, size)
        assert got.shape == want.shape, (size, got.shape, want.shape)
        error = (got - want).abs().max().item()
        assert error <= TOLERANCE, (size, error)


@pytest.mark.parametrize("fmt", ["torchscript", "exported-program", "onnx"])
def test_intermediate_endpoint_at_five_sizes(fmt, exported, eager) -> None:
    assert_matches_eager(exported(fmt, FEATURES), eager, FEATURES, FEATURE_SIZES)


def test_torchscript_logits_at_five_sizes(exported, eager) -> None:
    assert_matches_eager(exported("torchscript", "Logits"), eager, "Logits", LOGITS_SIZES)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["exported-program", "onnx"])
def test_logits_at_five_sizes(fmt, exported, eager) -> None:
    assert_matches_eager(exported(fmt, "Logits"), eager, "Logits", LOGITS_SIZES)


def test_symbolic_logits_head_equals_logits_at_every_length(random_i3d_model) -> None:
    """The head torch.export and ONNX get, exported with dynamic batch and time, against ``Logits``:
    Mixed_5c of 2 frames (9..16 input frames: one avg-pool window) up to 6."""
    head, want_head = SymbolicLogits(random_i3d_model.Logits), random_i3d_model.Logits
    from torch.export import Dim

    example = torch.randn(2, 1024, 3, 7, 7)
    program = torch.export.export(head, (example,), dynamic_shapes={"x": {0: Dim("b"), 2: Dim("t", min=2)}})
    for b, t in [(1, 2), (3, 3), (1, 4), (2, 6)]:
        x = torch.randn(b, 1024, t, 7, 7, generator=torch.Generator().manual_seed(t)).relu()
        with torch.no_grad():
            want = want_head(x)
            assert (program.module()(x) - want).abs().max().item() <= 1e-5 * max(1, want.abs().max().item())


def test_export_refuses_what_it_cannot_make_dynamic(random_i3d_model, tmp_path) -> None:
    out = tmp_path / "m.pt"
    with pytest.raises(ConversionError, match="channels cannot be dynamic"):
        export_model(random_i3d_model, "torchscript", out, dynamic=["time", "channels"])
    with pytest.raises(ConversionError, match="unknown dynamic dimension 'depth'"):
        export_model(random_i3d_model, "torchscript", out, dynamic=["depth"])
    with pytest.raises(ConversionError, match="height 100 is outside what Logits accepts"):
        export_model(random_i3d_model, "torchscript", out, shape=(1, 16, 100, 224))
    with pytest.raises(ConversionError, match="--opset applies to --format onnx only"):
        export_model(random_i3d_model, "torchscript", out, opset=17)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_differs_from_eager_is_not_written(random_i3d_model, tmp_path, monkeypatch) -> None:
    """Verification compares the file's runtime with the eager model: a wrong export leaves nothing."""
    from converter.export import formats

    real = formats.load
    monkeypatch.setattr(formats, "load", lambda path, fmt: lambda x: real(path, fmt)(x) + 1e-3)
    out = tmp_path / "m.pt"
    with pytest.raises(ConversionError, match="differs from the eager model"):
        export_model(random_i3d_model, "torchscript", out, endpoint="Conv3d_1a_7x7", shape=(1, 4, 8, 8))
    assert list(tmp_path.iterdir()) == []


def test_ranges_start_where_every_intermediate_size_is_two() -> None:
    ranges = input_ranges("Mixed_3c", at_least_two=True)
    assert (ranges["time"].low, ranges["height"].low, ranges["width"].low) == (3, 9, 9)
    assert input_ranges("Mixed_3c", at_least_two=False)["time"].low == 1
    logits = input_ranges("Logits", at_least_two=True)
    assert (logits["time"].low, logits["height"].low, logits["height"].high) == (9, 193, 224)
    with pytest.raises(ValueError, match="unknown endpoint"):
        EndpointNet(torch.nn.Module(), "Mixed_9z")
