"""``FastI3D``: OpenVINO on the verified export agrees with eager fp32 (logits ≤ 5e-5, features ≤ 1e-4
relative), keeps the eager model's input contract, and hands what it does not cover to eager."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

LOGITS_TOLERANCE = 5e-5


def _clip(shape, seed):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _both(eager_model, fast_model, x, names=("Logits",)):
    with torch.no_grad():
        return eager_model.endpoints(x, names), fast_model.endpoints(x, names)


def test_cricket_logits_within_5e5_of_eager(eager_model, fast_model, kinetics_dir) -> None:
    from PIL import Image, ImageSequence

    with Image.open(kinetics_dir / "v_CricketShot_g04_c01_rgb.gif") as gif:
        frames = np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)])[:32]
    clip = torch.from_numpy(frames).permute(3, 0, 1, 2)[None]  # uint8: the model maps x / 127.5 - 1
    want, got = _both(eager_model, fast_model, clip)
    assert np.abs((got["Logits"] - want["Logits"]).numpy()).max() <= LOGITS_TOLERANCE
    assert fast_model.labels[int(got["Logits"].argmax())] == "playing cricket"


@pytest.mark.parametrize("shape", [(1, 3, 9, 193, 224), (2, 3, 12, 224, 201), (1, 3, 20, 208, 224)])
def test_random_clip_logits_within_5e5_of_eager(eager_model, fast_model, shape) -> None:
    want, got = _both(eager_model, fast_model, _clip(shape, sum(shape)))
    assert got["Logits"].shape == want["Logits"].shape
    assert np.abs((got["Logits"] - want["Logits"]).numpy()).max() <= LOGITS_TOLERANCE


def test_a_batch_runs_clip_by_clip_one_per_thread_and_sizes_seen_again_compile_static(eager_model, fast_model) -> None:
    from converter.fast.artifacts import cache_name, fast_dir
    from converter.fast.runner import OpenVINORunner

    fast_model.runner("Logits")
    path = fast_dir() / cache_name(fast_model._sha256, "Logits")
    x = _clip((3, 3, 9, 193, 193), 5)
    with torch.no_grad():
        want = eager_model(x)
    one_thread, two_threads = OpenVINORunner(path, threads=1), OpenVINORunner(path, threads=2)
    alone = torch.cat([one_thread(x[i : i + 1]) for i in range(3)])  # the first at that size: dynamic
    assert len(one_thread._static) == 1, "the size came back: it has its own static model"
    in_turn = one_thread(x)
    first, again = two_threads(x), two_threads(x)
    assert list(two_threads._dynamic) == [("throughput", "NCDHW")]
    assert [k[1] for k in two_threads._static] == ["throughput"]
    for got in (in_turn, first, again):
        assert (got - alone).abs().max() <= 1e-6  # bit for bit on the machine this was written on
    assert np.abs((alone - want).numpy()).max() <= LOGITS_TOLERANCE


def test_a_channels_last_clip_runs_as_it_lies_with_the_same_numbers(eager_model, fast_model) -> None:
    from converter.fast.runner import OpenVINORunner

    x = _clip((2, 3, 9, 197, 210), 6)
    lying = x.contiguous(memory_format=torch.channels_last_3d)  # FVD's resized frames, permuted
    assert not lying.is_contiguous()
    runner = OpenVINORunner(fast_model.runner("Logits")._path, threads=1)
    fast_model._runners["Logits"] = runner
    try:
        with torch.no_grad():
            got, want, eager = fast_model(lying), fast_model(x), eager_model(x)
            again, want_again = fast_model(lying), fast_model(x)  # seen again: static models, one per layout
    finally:
        del fast_model._runners["Logits"]
    assert {key[2] for key in runner._seen} == {"NDHWC", "NCDHW"}
    assert [key[2] for key in runner._static] == ["NDHWC", "NCDHW"]
    for value in (got, again, want_again):
        assert (value - want).abs().max() <= 1e-6  # bit for bit on the machine this was written on
    assert np.abs((got - eager).numpy()).max() <= LOGITS_TOLERANCE


def test_dynamic_models_are_compiled_once_per_machine_and_an_unwritable_cache_is_skipped(fast_model, tmp_path) -> None:
    import shutil

    from converter.fast.runner import OpenVINORunner

    onnx_file = Path(fast_model.runner("Logits")._path)
    x = _clip((1, 3, 9, 193, 193), 8)
    path = tmp_path / onnx_file.name
    shutil.copy(onnx_file, path)
    first = OpenVINORunner(path, threads=1)(x)
    blobs = list((tmp_path / "openvino").glob("*.blob"))
    assert len(blobs) == 1, "the dynamic model, compiled, is in OpenVINO's cache"
    assert torch.equal(OpenVINORunner(path, threads=1)(x), first)  # a later process loads it
    assert list((tmp_path / "openvino").glob("*.blob")) == blobs
    shutil.rmtree(tmp_path / "openvino")
    (tmp_path / "openvino").write_text("not a folder")  # OpenVINO cannot write its cache there
    assert torch.equal(OpenVINORunner(path, threads=1)(x), first)
    unchecked = tmp_path / "unchecked" / path.name
    unchecked.parent.mkdir()
    shutil.copy(path, unchecked)
    assert torch.equal(OpenVINORunner(unchecked, threads=1, cache=False)(x), first)
    assert not (unchecked.parent / "openvino").exists(), "the check of a new file leaves no compiled copy"


def test_uint8_maps_like_eager(eager_model, fast_model) -> None:
    x = torch.randint(0, 256, (2, 3, 10, 200, 210), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    want, got = _both(eager_model, fast_model, x)
    assert np.abs((got["Logits"] - want["Logits"]).numpy()).max() <= LOGITS_TOLERANCE


def test_the_eager_checks_still_refuse_bad_input(fast_model) -> None:
    with torch.no_grad(), pytest.raises(ValueError, match=r"expected \[-1, 1\].*looks like 0..255"):
        fast_model(torch.full((1, 3, 9, 224, 224), 200.0))
    with torch.no_grad(), pytest.raises(ValueError, match="needs at least 9 frames"):
        fast_model(_clip((1, 3, 8, 224, 224), 0))
    with torch.no_grad(), pytest.raises(ValueError, match=r"expected input \(B, 3, T, H, W\)"):
        fast_model(_clip((1, 2, 9, 224, 224), 0))


def test_check_input_range_switch_is_the_eager_models(eager_model, fast_model) -> None:
    x = _clip((1, 3, 5, 30, 31), 9) * 1.5  # outside [-1, 1]
    try:
        fast_model.check_input_range = False
        assert eager_model.check_input_range is False
        with torch.no_grad():
            fast_model.endpoints(x, ["Conv3d_1a_7x7"])  # no error: the check is off on both paths
            fast_model.endpoints(x.requires_grad_(True), ["Conv3d_1a_7x7"])
    finally:
        fast_model.check_input_range = True
    with torch.no_grad(), pytest.raises(ValueError, match="expected \\[-1, 1\\]"):
        fast_model.endpoints(x.detach(), ["Conv3d_1a_7x7"])


def test_what_it_does_not_cover_runs_eager_exactly(eager_model, fast_model) -> None:
    """Gradients and sizes under the export's range go to the eager model: bit-identical results."""
    x = _clip((1, 3, 5, 30, 31), 5).requires_grad_(True)
    got = fast_model.endpoints(x, ["Conv3d_1a_7x7"])["Conv3d_1a_7x7"]
    assert got.requires_grad and torch.equal(got, eager_model.endpoints(x, ["Conv3d_1a_7x7"])["Conv3d_1a_7x7"])
    small = _clip((1, 3, 4, 40, 40), 6)  # Mixed_5c's export needs >= 9 frames, 33 pixels
    want, got = _both(eager_model, fast_model, small, ["Mixed_5c"])
    assert torch.equal(got["Mixed_5c"], want["Mixed_5c"])
    several = ["Conv3d_1a_7x7", "MaxPool3d_2a_3x3"]  # one export each would cost more than it saves
    want, got = _both(eager_model, fast_model, _clip((1, 3, 5, 30, 31), 7), several)
    assert all(torch.equal(got[name], want[name]) for name in several)


def test_attributes_are_the_eager_models(eager_model, fast_model) -> None:
    assert fast_model.num_classes == 400 and fast_model.labels is eager_model.labels
    assert next(fast_model.parameters()) is next(eager_model.parameters())


def test_accelerate_eager_and_bf16_return_the_model_itself(eager_model, monkeypatch) -> None:
    from converter.errors import ConversionError
    from converter.fast import accelerate, default_backend

    assert accelerate(eager_model, "eager") is eager_model
    assert accelerate(eager_model, "fast", precision="bf16") is eager_model
    monkeypatch.delenv("I3D_CONVERTER_BACKEND", raising=False)
    assert default_backend() == "fast"
    monkeypatch.setenv("I3D_CONVERTER_BACKEND", "eager")
    assert accelerate(eager_model) is eager_model
    monkeypatch.setenv("I3D_CONVERTER_BACKEND", "quick")
    with pytest.raises(ConversionError, match="I3D_CONVERTER_BACKEND='quick': choose fast or eager"):
        default_backend()


def test_fast_available_names_a_missing_module(monkeypatch) -> None:
    import importlib.util

    from converter.fast import fast_available

    assert fast_available() is None
    found = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else found(name, *a))
    assert fast_available() == "onnxscript is not installed"


def test_without_the_extra_one_line_names_it_and_eager_runs(eager_model, monkeypatch) -> None:
    from converter.fast import model as fast

    monkeypatch.setattr(fast, "fast_available", lambda: "openvino is not installed")
    monkeypatch.setattr(fast, "_noticed", set())
    lines: list[str] = []
    assert fast.accelerate(eager_model, "fast", log=lines.append) is eager_model
    assert fast.accelerate(eager_model, "fast", log=lines.append) is eager_model
    assert lines == [
        "note: running the eager backend: the fast CPU path needs the cpu-fast extra (openvino is not installed; "
        "pip install 'i3d-converter[cpu-fast]')"
    ]
