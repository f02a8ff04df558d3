"""Stream models: new classifier, flow from RGB weights, summed logits, and weights files that load back."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import converter
from converter.api import read_weights
from converter.errors import ConversionError
from converter.finetune.model import StreamSum, load_finetuned, load_stream, save_stream
from converter.models.i3d import InceptionI3d
from converter.models.i3d_spec import LOGITS_WEIGHT, STEM_WEIGHT
from converter.writers import write_weights

CLASSES = ["left", "right", "up"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Randomly initialised I3D weights files: RGB and flow for Kinetics, RGB fine-tuned on CLASSES, a foreign one."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)

    def write(name: str, in_channels: int = 3, labels: list[str] | None = None, architecture: str = "i3d") -> Path:
        num_classes = len(labels) if labels else 400
        metadata = {
            "architecture": architecture,
            "config": json.dumps({"num_classes": num_classes, "in_channels": in_channels}),
        }
        if labels is not None:
            metadata["labels"] = json.dumps(labels)
        state = InceptionI3d(num_classes, in_channels).state_dict()
        for key, value in state.items():  # BatchNorm statistics that are not the identity
            if key.endswith(("running_mean", "bias")):
                value.uniform_(-0.5, 0.5)
            elif key.endswith("running_var"):
                value.uniform_(0.5, 2.0)
        write_weights(folder / name, state, metadata)
        return folder / name

    return SimpleNamespace(
        rgb=write("rgb.safetensors"),
        flow=write("flow.safetensors", in_channels=2),
        tuned=write("tuned.safetensors", labels=CLASSES),
        foreign=write("foreign.safetensors", architecture="resnet3d"),
        folder=folder,
    )


def test_classifier_is_replaced_and_dropout_set(weights: SimpleNamespace) -> None:
    model = load_stream(weights.rgb, "rgb", CLASSES, keep_prob=0.8)
    assert model.num_classes == 3 and model.labels == CLASSES
    assert model.state_dict()[LOGITS_WEIGHT].shape == (3, 1024, 1, 1, 1)
    assert model.Logits.dropout.p == pytest.approx(0.2)
    original, _ = read_weights(weights.rgb)
    assert all(torch.equal(v, original[k]) for k, v in model.state_dict().items() if not k.startswith("Logits"))


def test_classifier_with_the_same_labels_is_kept(weights: SimpleNamespace) -> None:
    model = load_stream(weights.tuned, "rgb", CLASSES)
    original, _ = read_weights(weights.tuned)
    assert torch.equal(model.state_dict()[LOGITS_WEIGHT], original[LOGITS_WEIGHT])
    other = load_stream(weights.tuned, "rgb", ["up", "left", "right"])
    assert not torch.equal(other.state_dict()[LOGITS_WEIGHT], original[LOGITS_WEIGHT])


def test_flow_from_rgb_needs_cross_modality(weights: SimpleNamespace) -> None:
    with pytest.raises(ConversionError, match="3-channel model; the flow stream needs 2.*--cross-modality"):
        load_stream(weights.rgb, "flow", CLASSES)
    flow = load_stream(weights.rgb, "flow", CLASSES, cross_modality=True)
    stem = read_weights(weights.rgb)[0][STEM_WEIGHT]
    assert flow.in_channels == 2
    for channel in range(2):
        torch.testing.assert_close(flow.state_dict()[STEM_WEIGHT][:, channel], stem.mean(1))
    with pytest.raises(ConversionError, match="2-channel model; the rgb stream needs 3"):
        load_stream(weights.flow, "rgb", CLASSES)


def test_missing_or_foreign_weights_are_refused(weights: SimpleNamespace) -> None:
    with pytest.raises(ConversionError, match="nope.safetensors: no such weights file"):
        load_stream(weights.folder / "nope.safetensors", "rgb", CLASSES)
    with pytest.raises(ConversionError, match="architecture 'resnet3d'"):
        load_stream(weights.foreign, "rgb", CLASSES)


def test_saved_streams_load_back_as_one_model(weights: SimpleNamespace, tmp_path: Path) -> None:
    rgb = load_stream(weights.rgb, "rgb", CLASSES)
    flow = load_stream(weights.flow, "flow", CLASSES)
    save_stream(tmp_path / "rgb.safetensors", rgb, "rgb", {"epoch": "3"})
    save_stream(tmp_path / "flow.safetensors", flow, "flow", {})
    loaded = converter.load_model(tmp_path / "rgb.safetensors")
    assert loaded.labels == CLASSES and loaded.metadata["epoch"] == "3" and loaded.metadata["stream"] == "rgb"
    assert all(torch.equal(v, rgb.state_dict()[k]) for k, v in loaded.state_dict().items())
    joint, labels = load_finetuned([tmp_path / "flow.safetensors", tmp_path / "rgb.safetensors"])
    assert labels == CLASSES and list(joint.streams) == ["rgb", "flow"] and not joint.training
    assert all(torch.equal(v, flow.state_dict()[k]) for k, v in joint.streams["flow"].state_dict().items())


def test_streams_are_fused_by_summing_logits() -> None:
    class Fixed(torch.nn.Module):
        def __init__(self, scale: float) -> None:
            super().__init__()
            self.scale = scale

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.flatten(1)[:, :3] * self.scale

    inputs = {"rgb": torch.randn(2, 3, 1, 1, 1), "flow": torch.randn(2, 2, 1, 1, 2)}
    fused = StreamSum({"rgb": Fixed(1.0), "flow": Fixed(-2.0)})(inputs)
    torch.testing.assert_close(fused, inputs["rgb"].flatten(1) - 2 * inputs["flow"].flatten(1)[:, :3])
    assert torch.equal(StreamSum({"flow": Fixed(3.0)})(inputs), 3 * inputs["flow"].flatten(1)[:, :3])


def test_finetuned_streams_must_agree(weights: SimpleNamespace, tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="no labels: not a fine-tuned model"):
        load_finetuned([weights.rgb])
    with pytest.raises(ConversionError, match="second rgb stream"):
        load_finetuned([weights.tuned, weights.tuned])
    save_stream(tmp_path / "flow.safetensors", load_stream(weights.flow, "flow", ["a", "b", "c"]), "flow", {})
    with pytest.raises(ConversionError, match="labels differ"):
        load_finetuned([weights.tuned, tmp_path / "flow.safetensors"])
