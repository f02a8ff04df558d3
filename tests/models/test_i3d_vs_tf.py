"""Our PyTorch I3D against DeepMind's graph in TensorFlow, endpoint by endpoint, on the same weights.

Random but realistic weights (He-init convs, BN statistics measured on a clip) in our layout go out to
the official names through the mapping engine (``engine.export`` with converter/mappings/deepmind.toml), are
written by TensorFlow's own ``SaveV2`` and read back by TensorFlow; our side is the real pipeline:
``conversion.convert`` (pure reader → mapping → safetensors) and ``converter.load_model``.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import torch

from converter import load_model, tf_reference
from converter.conversion import convert
from converter.engine import export, plan
from converter.errors import ConversionError
from converter.mapping import load_table
from converter.models import i3d_spec, tf_same
from converter.models.i3d import InceptionI3d
from converter.readers import open_source
from converter.tf_reference import TFI3D, detect_scope
from parity.checkpoints import save_checkpoint

# Relative error is max |ours - tf| / max |tf| per endpoint. Each layer alone differs from TF by ~2e-6
# (fp32 rounding, as much as TF's own distance from a float64 run); through ~20 stacked convs of this
# random network that rounding compounds to ~5e-5 at Mixed_5c in either framework, TF included.
LAYER_REL_TOL = 1e-5
END_TO_END_REL_TOL = 2e-4
LOGITS_ABS_TOL = 5e-5
# (B, T, H, W): Logits needs T >= 9 and H, W in 193..224; the small ones stop at Mixed_5c.
FULL_SHAPES = [(1, 9, 193, 201), (2, 10, 224, 210)]
SMALL_SHAPES = [(1, 5, 37, 30), (1, 16, 64, 64), (1, 1, 2, 3)]
ALL_BUT_LOGITS = i3d_spec.ENDPOINTS[:-1]


def random_state(rng: np.random.Generator, in_channels: int = 3, num_classes: int = 400) -> dict[str, np.ndarray]:
    """He-initialised conv kernels and offsets in our layout; BN statistics are placeholders."""
    state = {}
    for name, shape in i3d_spec.parameter_shapes(num_classes, in_channels).items():
        if name.endswith(".weight"):
            gain = 1.0 if name.startswith("Logits") else 2.0
            state[name] = rng.normal(0.0, np.sqrt(gain / np.prod(shape[1:])), shape).astype(np.float32)
        elif name.endswith(("running_mean", "running_var")):
            state[name] = np.full(shape, 0.0 if name.endswith("mean") else 1.0, np.float32)
        else:
            state[name] = rng.normal(0.0, 0.2, shape).astype(np.float32)
    return state


def measure_bn_stats(state: dict[str, np.ndarray], in_channels: int) -> None:
    """Replace the placeholder BN statistics by those of a full-size clip, so activations stay O(1)."""
    model = InceptionI3d(in_channels=in_channels, bn_momentum=1.0)
    model.load_state_dict({name: torch.from_numpy(value) for name, value in state.items()}, strict=True)
    clip = np.random.default_rng(1).uniform(-1, 1, (1, in_channels, 9, 193, 193)).astype(np.float32)
    model.train()
    with torch.no_grad():
        model.endpoints(torch.from_numpy(clip), ["Mixed_5c"])
    for name, value in model.state_dict().items():
        if "running_" in name:
            state[name] = value.numpy().copy()


def official_checkpoint(
    tmp_path_factory, scope: str, in_channels: int, stats_5d: bool, extra: dict, measure_stats: bool = False
) -> tuple[str, torch.nn.Module]:
    """A checkpoint laid out like an official one, and our model converted from it by the real pipeline."""
    state = random_state(np.random.default_rng(0), in_channels)
    if measure_stats:
        measure_bn_stats(state, in_channels)
    tensors = export(state, load_table("deepmind"), prefix=scope)
    if stats_5d:
        tensors = {k: v.reshape(1, 1, 1, 1, -1) if "/batch_norm/" in k else v for k, v in tensors.items()}
    folder = tmp_path_factory.mktemp("ckpt")
    prefix = save_checkpoint(folder / "model.ckpt", {**tensors, **extra})
    convert(str(prefix), folder / "ours.safetensors")
    return str(prefix), load_model(folder / "ours.safetensors")


@pytest.fixture(scope="module")
def rgb(tmp_path_factory) -> tuple[TFI3D, InceptionI3d]:
    """The main fixture: BN statistics measured on a clip, so activations are realistic all the way down."""
    prefix, model = official_checkpoint(tmp_path_factory, "RGB/inception_i3d/", 3, False, {}, True)
    return TFI3D(prefix), model


def compare(reference: TFI3D, model: torch.nn.Module, shape: tuple, names: tuple[str, ...]) -> dict:
    """Per endpoint: end to end (max |Δ|, max |Δ| / max |ref|), then the same for the layer alone.

    "Layer alone" feeds TF's previous endpoint to our layer, so it measures that op's own difference;
    end to end adds the fp32 rounding both frameworks accumulate on the way there.
    """
    assert names == i3d_spec.ENDPOINTS[: len(names)], "layer-alone errors need every endpoint up to the last"
    rng = np.random.default_rng(sum(shape))
    clip = rng.uniform(-1, 1, (*shape, reference.in_channels)).astype(np.float32)
    ref = reference.endpoints(clip, names)
    previous = torch.from_numpy(clip).permute(0, 4, 1, 2, 3)  # NDHWC memory: channels_last_3d
    with torch.no_grad():
        ours = model.endpoints(previous, names)
        errors = {}
        for name in names:
            theirs = torch.from_numpy(ref[name] if name == "Logits" else ref[name].transpose(0, 4, 1, 2, 3))
            alone = model.get_submodule(name)(previous)
            assert ours[name].shape == theirs.shape, f"{name}: {tuple(ours[name].shape)} vs TF {theirs.shape}"
            scale = max(float(theirs.abs().max()), 1e-30)
            diffs = (float((ours[name] - theirs).abs().max()), float((alone - theirs).abs().max()))
            errors[name] = (diffs[0], diffs[0] / scale, diffs[1], diffs[1] / scale)
            previous = theirs
    return errors


def table(shape: tuple, errors: dict) -> str:
    rows = [
        f"{name:17s} {e2e:9.2e} {e2e_rel:9.2e}   {alone:9.2e} {alone_rel:9.2e}"
        for name, (e2e, e2e_rel, alone, alone_rel) in errors.items()
    ]
    head = f"B,T,H,W = {shape}  end to end: max|Δ| rel   layer alone: max|Δ| rel"
    return "\n".join([head, *rows])


CASES = [(shape, i3d_spec.ENDPOINTS) for shape in FULL_SHAPES]
CASES += [(shape, ALL_BUT_LOGITS) for shape in SMALL_SHAPES]


@pytest.mark.parametrize(
    ("shape", "names"),
    CASES,
    ids=lambda value: "x".join(map(str, value)) if isinstance(value[0], int) else None,
)
def test_every_endpoint_matches_tensorflow(rgb, shape, names) -> None:
    errors = compare(*rgb, shape, names)
    print("\n" + table(shape, errors))
    for name, (e2e, e2e_rel, alone, alone_rel) in errors.items():
        assert alone_rel <= LAYER_REL_TOL, f"{name} differs from TF by itself\n{table(shape, errors)}"
        assert e2e_rel <= END_TO_END_REL_TOL, f"{name} drifted from TF\n{table(shape, errors)}"
        if name.startswith("MaxPool"):
            assert alone == 0.0, f"{name} is not bit-exact\n{table(shape, errors)}"
        if name == "Logits":
            assert e2e <= LOGITS_ABS_TOL, table(shape, errors)


def break_eps(model: InceptionI3d, monkeypatch) -> None:
    for module in model.modules():
        if hasattr(module, "eps"):
            monkeypatch.setattr(module, "eps", 1e-5)


def break_padding(model: InceptionI3d, monkeypatch) -> None:
    """Put TF's odd padding element before instead of after: same shapes, shifted windows."""
    real = tf_same.same_padding
    monkeypatch.setattr(tf_same, "same_padding", lambda size, k, s: real(size, k, s)[::-1])


def break_padding_symmetric(model: InceptionI3d, monkeypatch) -> None:
    """PyTorch-style ``k // 2`` on both sides for odd kernels (a common port's mistake): same shapes too."""
    real = tf_same.same_padding
    monkeypatch.setattr(tf_same, "same_padding", lambda size, k, s: (k // 2, k // 2) if k % 2 else real(size, k, s))


@pytest.mark.parametrize(
    "breakage",
    [break_eps, break_padding, break_padding_symmetric],
    ids=["bn_eps_1e-5", "extra_pad_before", "symmetric_pad"],
)
def test_comparison_catches_a_broken_model(rgb, monkeypatch, breakage) -> None:
    reference, model = rgb
    breakage(model, monkeypatch)
    errors = compare(reference, model, (1, 5, 37, 30), ALL_BUT_LOGITS)
    print("\n" + table((1, 5, 37, 30), errors))
    assert max(err[3] for err in errors.values()) > 10 * LAYER_REL_TOL, table((1, 5, 37, 30), errors)
    assert max(err[1] for err in errors.values()) > END_TO_END_REL_TOL, table((1, 5, 37, 30), errors)


@pytest.mark.parametrize(
    ("scope", "in_channels", "stats_5d", "extra"),
    [
        ("Flow/inception_i3d/", 2, False, {}),
        ("", 3, True, {"Conv3d_1a_7x7/conv_3d/w/Momentum": np.zeros((7, 7, 7, 3, 64), np.float32)}),
    ],
    ids=["flow", "kinetics600_layout"],
)
def test_reference_reads_other_layouts(tmp_path_factory, scope, in_channels, stats_5d, extra) -> None:
    prefix, model = official_checkpoint(tmp_path_factory, scope, in_channels, stats_5d, extra)
    reference = TFI3D(prefix)
    assert (reference.scope, reference.in_channels, reference.num_classes) == (scope, in_channels, 400)
    errors = compare(reference, model, (1, 3, 20, 21), i3d_spec.ENDPOINTS[:6])
    assert max(err[3] for err in errors.values()) <= LAYER_REL_TOL, table((1, 3, 20, 21), errors)


def test_padding_helpers_match_tensorflow() -> None:
    """conv3d_same / max_pool3d_same against tf.nn on every small size, kernel and stride per axis."""
    rng = np.random.default_rng(3)
    for axis in range(3):
        for size in range(1, 10):
            for kernel in range(1, 5):
                for stride in range(1, 4):
                    dims, ks, ss = [2, 3, 2], [1, 2, 1], [1, 1, 1]
                    dims[axis], ks[axis], ss[axis] = size, kernel, stride
                    x = rng.normal(size=(1, *dims, 2)).astype(np.float32)
                    w = rng.normal(size=(*ks, 2, 3)).astype(np.float32)
                    want_conv = tf.nn.conv3d(x, w, [1, *ss, 1], "SAME").numpy()
                    want_pool = tf.nn.max_pool3d(x, [1, *ks, 1], [1, *ss, 1], "SAME").numpy()
                    xt = torch.from_numpy(x).permute(0, 4, 1, 2, 3)
                    wt = torch.from_numpy(w).permute(4, 3, 0, 1, 2)
                    conv = tf_same.conv3d_same(xt, wt, None, tuple(ss)).permute(0, 2, 3, 4, 1)
                    pool = tf_same.max_pool3d_same(xt, tuple(ks), tuple(ss)).permute(0, 2, 3, 4, 1)
                    case = f"axis {axis} size {size} kernel {kernel} stride {stride}"
                    np.testing.assert_allclose(conv.numpy(), want_conv, rtol=1e-5, atol=1e-5, err_msg=case)
                    np.testing.assert_array_equal(pool.numpy(), want_pool, err_msg=case)


def test_reference_and_model_name_the_same_endpoints_in_order() -> None:
    assert tf_reference.ENDPOINTS == i3d_spec.ENDPOINTS


def test_reference_scope_detection_rejects_ambiguous_checkpoints() -> None:
    stem = "Conv3d_1a_7x7/conv_3d/w"
    assert detect_scope(["RGB/inception_i3d/" + stem, "global_step"], "x") == "RGB/inception_i3d/"
    with pytest.raises(ConversionError, match="found scopes: none"):
        detect_scope(["global_step"], "x")
    with pytest.raises(ConversionError, match="'Flow/inception_i3d/', 'RGB/inception_i3d/'"):
        detect_scope(["RGB/inception_i3d/" + stem, "Flow/inception_i3d/" + stem], "x")


def test_reference_names_a_missing_variable(tmp_path) -> None:
    weights = export(random_state(np.random.default_rng(0)), load_table("deepmind"))
    missing = "Mixed_4c/Branch_1/Conv3d_0b_3x3/batch_norm/beta"
    del weights[missing]
    save_checkpoint(tmp_path / "model.ckpt", weights)
    with pytest.raises(ConversionError, match=f"missing variable {missing}"):
        TFI3D(tmp_path / "model.ckpt")


def test_spec_matches_every_official_checkpoint(kinetics_dir) -> None:
    """Every official index maps onto exactly ``parameter_shapes`` through the deepmind table, nothing left over."""
    indexes = sorted((kinetics_dir / "checkpoints").glob("*/model.ckpt.index"))
    assert len(indexes) == 5, f"expected the five official checkpoints under {kinetics_dir}"
    for index in indexes:
        the_plan = plan(open_source(index), load_table("deepmind"))
        assert the_plan.report.problems() == [], (index, the_plan.report.details())
        names = the_plan.source.keys()
        assert the_plan.report.prefix == detect_scope(names, str(index)), index
        shapes = {pair.target: shape for pair, shape in the_plan.items}
        assert shapes == i3d_spec.parameter_shapes(**the_plan.config), index
