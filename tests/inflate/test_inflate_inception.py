"""Inception-v1 → I3D: 2D == 3D on a clip of one repeated image, against 2D networks written on their own.

The TF-slim checkpoint is written and read back by TensorFlow, and its 2D reference is slim's graph in
TensorFlow ops (``inception2d.slim_endpoints``); the torchvision one is a torch GoogLeNet with
torchvision's names. What holds (see converter.inflate.inception), measured here:

* center init: every frame of every endpoint and the logits equal the TF-padded 2D network.
* mean init: exact exactly on the frames that ``exact_frames`` predicts (none touched by I3D's zero time
  padding through the convs before); at Mixed_5c that needs T >= 101.
* torchvision's own forward: equal where its padding matches TF's (63x63), not on even sizes (64x64).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from inception2d import slim_endpoints

from converter.engine import export
from converter.errors import ConversionError
from converter.inflate.inception import FoldedBatchNorm, inflation_table, open_2d, plan_inflation
from converter.models import i3d_spec
from converter.models.i3d import InceptionI3d
from converter.models.tf_same import same_padding
from converter.readers import Source, open_source
from converter.tfbundle import write_bundle

TOLERANCE = 5e-6  # measured: <= 1.8e-6 (fp32 rounding through ~20 stacked convs)
SLIM_TO_I3D = {
    "Conv2d_1a_7x7": "Conv3d_1a_7x7", "MaxPool_2a_3x3": "MaxPool3d_2a_3x3", "Conv2d_2b_1x1": "Conv3d_2b_1x1",
    "Conv2d_2c_3x3": "Conv3d_2c_3x3", "MaxPool_3a_3x3": "MaxPool3d_3a_3x3", "MaxPool_4a_3x3": "MaxPool3d_4a_3x3",
    "MaxPool_5a_2x2": "MaxPool3d_5a_2x2",
    **{f"Mixed_{b}": f"Mixed_{b}" for b in ("3b", "3c", "4b", "4c", "4d", "4e", "4f", "5b", "5c")},
}  # fmt: skip
TORCHVISION_TO_I3D = {
    "conv1": "Conv3d_1a_7x7", "maxpool1": "MaxPool3d_2a_3x3", "conv2": "Conv3d_2b_1x1", "conv3": "Conv3d_2c_3x3",
    "maxpool2": "MaxPool3d_3a_3x3", "inception3a": "Mixed_3b", "inception3b": "Mixed_3c",
    "maxpool3": "MaxPool3d_4a_3x3", "inception4a": "Mixed_4b", "inception4b": "Mixed_4c",
    "inception4c": "Mixed_4d", "inception4d": "Mixed_4e", "inception4e": "Mixed_4f",
    "maxpool4": "MaxPool3d_5a_2x2", "inception5a": "Mixed_5b", "inception5b": "Mixed_5c",
}  # fmt: skip


def inflated(source: Source, init: str) -> InceptionI3d:
    the_plan = plan_inflation(source, init)
    model = InceptionI3d(**the_plan.config)
    model.load_state_dict({k: torch.from_numpy(t.load()) for k, t in the_plan.tensors().items()}, strict=True)
    return model.eval()


def boring(image: np.ndarray, frames: int) -> torch.Tensor:
    """(B, H, W, C) image -> (B, C, T, H, W) clip of it repeated."""
    return torch.from_numpy(image).permute(0, 3, 1, 2).unsqueeze(2).expand(-1, -1, frames, -1, -1).contiguous()


def frame_errors(clip_endpoint: torch.Tensor, image_endpoint: np.ndarray) -> list[float]:
    """Relative error (max |3D - 2D| / max |2D|) of each frame of a (B, C, T, H, W) endpoint vs NHWC 2D."""
    want = torch.from_numpy(image_endpoint).permute(0, 3, 1, 2)
    assert clip_endpoint.shape[3:] == want.shape[2:]
    scale = float(want.abs().max())
    return [float((clip_endpoint[:, :, t] - want).abs().max()) / scale for t in range(clip_endpoint.shape[2])]


def exact_frames(frames: int, endpoint: str) -> set[int]:
    """Frames of ``endpoint`` that mean init keeps equal to the 2D response on a boring clip of ``frames``.

    A conv frame is exact when its whole time window covers exact frames (a zero-padded frame breaks the
    sum of kernel / T); a max-pool frame when the real frames in its window are exact (-inf padding never
    wins). Each Mixed block's limit is its 3x3x3 conv (its 1x1 and pool branches are no stricter).
    """
    n, lo, hi = frames, 0, frames - 1
    for name, layer in i3d_spec.LAYERS:
        kernel, stride, is_pool = 3, 1, False
        if isinstance(layer, i3d_spec.Unit | i3d_spec.MaxPool):
            kernel, stride, is_pool = layer.kernel[0], layer.stride[0], isinstance(layer, i3d_spec.MaxPool)
        before, n_out = same_padding(n, kernel, stride)[0], -(-n // stride)
        keep = []
        for t in range(n_out):
            first, last = t * stride - before, t * stride - before + kernel - 1
            if is_pool:  # only the real frames in the window count
                first, last = max(first, 0), min(last, n - 1)
            if first >= lo and last <= hi:
                keep.append(t)
        n, lo, hi = n_out, (min(keep) if keep else 1), (max(keep) if keep else 0)
        if name == endpoint:
            return set(range(lo, hi + 1))
    raise ValueError(endpoint)


@pytest.fixture(scope="module")
def slim_source(slim_checkpoint):
    return open_source(slim_checkpoint[0])


def test_slim_plan_accounts_for_every_key(slim_source) -> None:
    report = plan_inflation(slim_source, "mean").report
    assert (len(report.matched), report.ignored, report.prefix) == (230, ["global_step"], "InceptionV1/")
    pairs = dict(report.matched)  # slim's Mixed_5b typo is read, and lands on I3D's 0b
    assert pairs["InceptionV1/Mixed_5b/Branch_2/Conv2d_0a_3x3/weights"] == "Mixed_5b.Branch_2.Conv3d_0b_3x3.conv.weight"


def test_slim_center_init_equals_2d_at_every_endpoint_and_frame(slim_checkpoint, slim_source) -> None:
    image = np.random.default_rng(0).uniform(-1, 1, (1, 57, 64, 3)).astype(np.float32)
    want = slim_endpoints(slim_checkpoint[1], image, SLIM_TO_I3D)
    with torch.no_grad():
        got = inflated(slim_source, "center").endpoints(boring(image, 5), SLIM_TO_I3D.values())
    for slim_name, name in SLIM_TO_I3D.items():
        assert max(frame_errors(got[name], want[slim_name])) <= TOLERANCE, name


def test_slim_center_init_logits_equal_2d_at_full_size(slim_checkpoint, slim_source) -> None:
    image = np.random.default_rng(1).uniform(-1, 1, (1, 193, 201, 3)).astype(np.float32)
    want = torch.from_numpy(slim_endpoints(slim_checkpoint[1], image, ["Logits"])["Logits"])
    model = inflated(slim_source, "center")
    with torch.no_grad():
        mixed_5c = model.endpoints(boring(image, 9), ["Mixed_5c"])["Mixed_5c"]
        logits = model.Logits(mixed_5c)
        assert logits.shape == (1, 1001)
        assert float((logits - want).abs().max() / want.abs().max()) <= TOLERANCE
        model.Logits.Conv3d_0c_1x1.conv.bias.zero_()  # as if the classifier's bias had not been transferred
        assert float((model.Logits(mixed_5c) - want).abs().max() / want.abs().max()) > 100 * TOLERANCE


def test_slim_mean_init_is_exact_on_the_frames_zero_padding_does_not_reach(slim_checkpoint, slim_source) -> None:
    frames, names = 112, ["Conv3d_1a_7x7", "Conv3d_2c_3x3", "Mixed_3c", "Mixed_4f", "Mixed_5c"]
    image = np.random.default_rng(2).uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    want = slim_endpoints(slim_checkpoint[1], image, [k for k, v in SLIM_TO_I3D.items() if v in names])
    with torch.no_grad():
        got = inflated(slim_source, "mean").endpoints(boring(image, frames), names)
    for slim_name, name in SLIM_TO_I3D.items():
        if name in names:
            errors = frame_errors(got[name], want[slim_name])
            exact = {t for t, error in enumerate(errors) if error <= TOLERANCE}
            assert exact == exact_frames(frames, name) != set(), name
    assert exact_frames(112, "Mixed_5c") == {6, 7}  # 2 of 14
    assert exact_frames(101, "Mixed_5c") == {6}  # the shortest clip with one
    assert exact_frames(100, "Mixed_5c") == exact_frames(79, "Mixed_5c") == exact_frames(64, "Mixed_5c") == set()


@pytest.mark.parametrize(
    "name",
    [
        "Conv3d_1a_7x7.conv.weight",
        "Mixed_3b.Branch_3.Conv3d_0b_1x1.bn.bias",
        "Mixed_4d.Branch_2.Conv3d_0a_1x1.bn.running_var",
        "Mixed_5b.Branch_2.Conv3d_0b_3x3.conv.weight",
        "Mixed_5c.Branch_1.Conv3d_0b_3x3.bn.running_mean",
    ],
)
def test_a_weight_left_untransferred_breaks_the_equality(slim_checkpoint, slim_source, name: str) -> None:
    image = np.random.default_rng(0).uniform(-1, 1, (1, 57, 64, 3)).astype(np.float32)
    want = slim_endpoints(slim_checkpoint[1], image, ["Mixed_5c"])["Mixed_5c"]
    model = inflated(slim_source, "center")
    model.load_state_dict({name: InceptionI3d(1001).state_dict()[name]}, strict=False)  # a fresh model's value
    with torch.no_grad():
        got = model.endpoints(boring(image, 1), ["Mixed_5c"])["Mixed_5c"]
    assert max(frame_errors(got, want)) > 100 * TOLERANCE


def test_a_missing_or_unknown_2d_tensor_is_refused(slim_checkpoint, tmp_path) -> None:
    variables = dict(slim_checkpoint[1])
    del variables["InceptionV1/Mixed_4c/Branch_0/Conv2d_0a_1x1/BatchNorm/beta"]
    variables["InceptionV1/AuxLogits/Conv2d_1b_1x1/weights"] = np.zeros((1, 1, 2, 2), np.float32)
    write_bundle(tmp_path / "model.ckpt", variables)
    with pytest.raises(ConversionError) as err:
        plan_inflation(open_source(tmp_path / "model.ckpt"), "center")
    message, where = str(err.value), tmp_path / "model.ckpt"
    assert message.startswith(f"{where}: mapping inception_v1_slim, prefix 'InceptionV1/': 229 matched")
    assert "missing: Mixed_4c.Branch_0.Conv3d_0a_1x1.bn.bias" in message
    assert "unmatched: InceptionV1/AuxLogits/Conv2d_1b_1x1/weights" in message


def test_an_i3d_checkpoint_is_not_a_2d_inception(official_checkpoint) -> None:
    with pytest.raises(ConversionError, match="0 matched, 0 ignored, 230 unmatched.*cannot tell the i3d config"):
        plan_inflation(open_source(official_checkpoint()), "mean")


def test_a_v1_checkpoint_opens_and_garbage_is_refused(tmp_path) -> None:
    """TF-slim's 2016 tarballs ship V1 checkpoints (one file, which TensorFlow still writes this way): they
    open directly, no re-saving; a file of no known format is still refused by name."""
    import tensorflow as tf

    with tf.Graph().as_default():
        tf.compat.v1.get_variable("InceptionV1/Logits/Conv2d_0c_1x1/biases", initializer=tf.ones(3))
        saver = tf.compat.v1.train.Saver(write_version=tf.compat.v1.train.SaverDef.V1)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(tmp_path / "inception_v1.ckpt"), write_meta_graph=False)
    source = open_2d(tmp_path / "inception_v1.ckpt")
    assert source.keys() == ["InceptionV1/Logits/Conv2d_0c_1x1/biases"]
    np.testing.assert_array_equal(source.read("InceptionV1/Logits/Conv2d_0c_1x1/biases"), np.ones(3, np.float32))
    (tmp_path / "other").write_bytes(b"not a checkpoint")
    with pytest.raises(ConversionError, match="not a checkpoint format this tool reads"):
        open_2d(tmp_path / "other")


@pytest.mark.parametrize("init", ["center", "mean"])
def test_slim_export_deflates_back_to_the_2d_checkpoint(slim_checkpoint, slim_source, init: str) -> None:
    state = {k: t.load() for k, t in plan_inflation(slim_source, init).tensors().items()}
    back = export(state, inflation_table("inception_v1_slim", init), prefix="InceptionV1/")
    assert set(back) == set(slim_checkpoint[1])
    for name, value in slim_checkpoint[1].items():
        if init == "center":
            np.testing.assert_array_equal(back[name], value, err_msg=name)
        else:  # 7 (or 3) copies of w / 7 summed: within a few ulp
            np.testing.assert_allclose(back[name], value, rtol=1e-6, atol=1e-7 * np.abs(value).max(), err_msg=name)


class Arrays:
    """An in-memory ``Source`` of numpy arrays, as a torch state_dict reader would give them."""

    format = "torch-state-dict"

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.path, self.arrays = Path("in.pth"), arrays

    def files(self) -> list[Path]:
        return []

    def keys(self) -> list[str]:
        return sorted(self.arrays)

    def shape(self, key: str) -> tuple[int, ...]:
        return self.arrays[key].shape

    def dtype(self, key: str) -> np.dtype:
        return self.arrays[key].dtype

    def read(self, key: str) -> np.ndarray:
        return self.arrays[key]


def _googlenet_source(googlenet: torch.nn.Module, tmp_path: Path, drop_gamma: bool = False) -> Source:
    """The GoogLeNet saved as a .pth and opened like any 2D file; ``drop_gamma`` drops every BatchNorm's gamma,
    as reading torchvision's BatchNorm as if it were I3D's would."""
    state = {k: v for k, v in googlenet.state_dict().items() if not (drop_gamma and k.endswith("bn.weight"))}
    torch.save(state, tmp_path / "googlenet.pth")
    return open_source(tmp_path / "googlenet.pth")


def test_torchvision_plan_ignores_only_aux_heads_and_counters(googlenet, tmp_path) -> None:
    report = plan_inflation(_googlenet_source(googlenet, tmp_path), "mean").report
    assert len(report.matched) == 230
    assert all(k.startswith(("aux1.", "aux2.")) or k.endswith("num_batches_tracked") for k in report.ignored)
    assert any(k.startswith("aux1.fc2.") for k in report.ignored) and len(report.ignored) > 57


@pytest.mark.parametrize("drop_gamma", [False, True])
def test_torchvision_center_init_equals_googlenet_where_padding_agrees(googlenet, tmp_path, drop_gamma: bool) -> None:
    image = torch.rand(1, 3, 63, 63) * 2 - 1  # odd, then even after each stride-2 layer: TF 'SAME' == torchvision
    model = inflated(_googlenet_source(googlenet, tmp_path, drop_gamma), "center")
    with torch.no_grad():
        want = googlenet.endpoints(image)
        got = model.endpoints(image.unsqueeze(2).expand(-1, -1, 3, -1, -1), TORCHVISION_TO_I3D.values())
    errors = {
        name: frame_errors(got[name], want[tv_name].permute(0, 2, 3, 1).numpy())
        for tv_name, name in TORCHVISION_TO_I3D.items()
    }
    if drop_gamma:  # not folding gamma is a weight not transferred: visible from the stem on
        assert min(max(e) for e in errors.values()) > 100 * TOLERANCE
    else:
        assert max(max(e) for e in errors.values()) <= TOLERANCE


def test_torchvision_logits_head(googlenet, tmp_path) -> None:
    image = torch.rand(1, 3, 223, 223) * 2 - 1
    model = inflated(_googlenet_source(googlenet, tmp_path), "mean")
    with torch.no_grad():
        want = googlenet.endpoints(image)
        logits = model.Logits(want["inception5b"].unsqueeze(2).expand(-1, -1, 2, -1, -1))
    assert logits.shape == want["fc"].shape == (1, 1000)
    assert float((logits - want["fc"]).abs().max() / want["fc"].abs().max()) <= TOLERANCE


def test_torchvision_stem_differs_from_tf_same_on_even_sizes(googlenet, tmp_path) -> None:
    """TF 'SAME' pads an even side 2 before and 3 after with a 7x7 stride-2 kernel; torchvision pads 3 and 3."""
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    model = inflated(_googlenet_source(googlenet, tmp_path), "center")
    with torch.no_grad():
        want = googlenet.endpoints(image)["conv1"]
        got = model.endpoints(image.unsqueeze(2).expand(-1, -1, 1, -1, -1), ["Conv3d_1a_7x7"])["Conv3d_1a_7x7"]
    assert got.shape[3:] == want.shape[2:] and float((got[:, :, 0] - want).abs().max() / want.abs().max()) > 0.1


def test_folding_gamma_is_exact(googlenet) -> None:
    unit = googlenet.inception4a.branch2[1]
    folded = FoldedBatchNorm(Arrays({f"u.{k}": v.numpy() for k, v in unit.state_dict().items()}))
    x = torch.randn(2, unit.conv.in_channels, 5, 6)
    with torch.no_grad():
        want = unit(x)
        weight, mean, var, beta = (
            torch.from_numpy(folded.read(f"u.{k}"))
            for k in ("conv.weight", "bn.running_mean", "bn.running_var", "bn.bias")
        )
        conv = unit.conv._conv_forward(x, weight, None)
        got = torch.relu(torch.nn.functional.batch_norm(conv, mean, var, None, beta, eps=1e-3))
    assert folded.keys() == [
        "u.bn.bias",
        "u.bn.num_batches_tracked",
        "u.bn.running_mean",
        "u.bn.running_var",
        "u.conv.weight",
    ]
    assert float((got - want).abs().max() / want.abs().max()) <= 1e-6


GAMMA = {"a.bn.weight": np.ones(2, np.float32)}


@pytest.mark.parametrize(
    "arrays,message",
    [
        ({**GAMMA, "a.bn.running_mean": np.zeros(2)}, "a.conv.weight (absent)"),
        (
            {**GAMMA, "a.bn.running_mean": np.zeros(2), "a.conv.weight": np.ones((3, 1, 1, 1))},
            "a.conv.weight (shape [3, 1, 1, 1])",
        ),
        ({**GAMMA, "a.conv.weight": np.ones((2, 1, 1, 1))}, "a.bn.running_mean (absent)"),
        ({"a.bn.weight": np.ones((2, 1)), "a.conv.weight": np.ones((2, 1, 1, 1))}, "gamma of shape [2, 1]"),
    ],
)
def test_a_gamma_that_cannot_fold_is_reported_with_its_key(arrays, message: str) -> None:
    with pytest.raises(ConversionError) as err:
        FoldedBatchNorm(Arrays(arrays))
    assert str(err.value).startswith("in.pth:a.bn.weight: ") and message in str(err.value)
