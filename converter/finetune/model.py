"""The model fine-tuning trains: one I3D per stream with a classifier for the user's classes, logits summed.

Summing the RGB and flow logits is how the I3D paper fuses its two streams; with one stream the sum
is that stream's logits. Flow weights can be started from RGB weights by TSN's cross-modality
initialisation (Wang et al., 2016): the stem's kernel averaged over the three colour channels and
copied to the two flow channels; every later layer is taken over as it is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from converter import models
from converter.api import load_model, read_weights
from converter.errors import ConversionError
from converter.finetune.data import CHANNELS
from converter.models.i3d import InceptionI3d
from converter.models.i3d_spec import STEM_WEIGHT
from converter.writers import write_weights


class StreamSum(nn.Module):
    """I3D streams by name (``rgb``, ``flow``); the output is the sum of their logits."""

    def __init__(self, streams: dict[str, InceptionI3d]) -> None:
        super().__init__()
        self.streams = nn.ModuleDict(streams)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = [model(inputs[name]) for name, model in self.streams.items()]
        return torch.stack(logits).sum(0) if len(logits) > 1 else logits[0]


def load_stream(
    path: str | os.PathLike[str],
    stream: str,
    classes: list[str],
    *,
    keep_prob: float = 1.0,
    cross_modality: bool = False,
) -> InceptionI3d:
    """An I3D for ``stream`` from the weights at ``path``, its classifier replaced unless it already has
    ``classes`` as labels (continuing a fine-tuned model); ``keep_prob`` is the logits' dropout keep rate."""
    state, meta = read_weights(path)
    if meta.get("architecture") != "i3d":
        raise ConversionError(path, f"architecture {meta.get('architecture')!r}, fine-tuning needs an i3d weights file")
    config = json.loads(meta.get("config", "{}"))
    in_channels = int(config.get("in_channels", 3))
    if in_channels != CHANNELS[stream]:
        if not (cross_modality and stream == "flow" and in_channels == CHANNELS["rgb"]):
            hint = " (pass --cross-modality to start flow from RGB weights)" if stream == "flow" else ""
            raise ConversionError(
                path, f"a {in_channels}-channel model; the {stream} stream needs {CHANNELS[stream]}{hint}"
            )
        state = dict(state)
        state[STEM_WEIGHT] = state[STEM_WEIGHT].mean(1, keepdim=True).expand(-1, CHANNELS["flow"], -1, -1, -1).clone()
        config["in_channels"] = CHANNELS["flow"]
    model = models.build("i3d", **config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConversionError(path, f"weights do not fit I3D: missing {missing[:3]}, unexpected {unexpected[:3]}")
    labels = json.loads(meta["labels"]) if "labels" in meta else None
    model.dropout = 1.0 - keep_prob
    if labels != classes:
        model.replace_logits(len(classes))
    model.Logits.dropout.p = model.dropout
    model.labels = classes
    return model


def load_streams(weights: dict[str, Path], classes: list[str], **kwargs: float | bool) -> StreamSum:
    return StreamSum({stream: load_stream(path, stream, classes, **kwargs) for stream, path in weights.items()})


def load_finetuned(paths: list[Path]) -> tuple[StreamSum, list[str]]:
    """Fine-tuned streams (one file each; RGB or flow told by the input channels) summed, in eval mode,
    and their class names, which must agree."""
    streams: dict[str, InceptionI3d] = {}
    labels = None
    by_channels = {channels: stream for stream, channels in CHANNELS.items()}
    for path in paths:
        model = load_model(path)
        stream = by_channels.get(getattr(model, "in_channels", None))
        if not isinstance(model, InceptionI3d) or stream is None:
            raise ConversionError(path, "not an RGB or flow I3D")
        if "labels" not in model.metadata:  # load_model may name Kinetics classes; a fine-tune records its own
            raise ConversionError(path, "metadata has no labels: not a fine-tuned model")
        if stream in streams:
            raise ConversionError(path, f"a second {stream} stream; give one RGB and/or one flow model")
        if labels is not None and model.labels != labels:
            raise ConversionError(path, "its labels differ from the other stream's")
        streams[stream], labels = model, model.labels
    return StreamSum(dict(sorted(streams.items(), key=lambda item: list(CHANNELS).index(item[0])))).eval(), labels


def save_stream(path: Path, model: InceptionI3d, stream: str, extra: dict[str, str]) -> None:
    """Write one stream as a weights file ``converter.load_model`` rebuilds, with its labels."""
    metadata = {
        "architecture": "i3d",
        "config": json.dumps({"num_classes": model.num_classes, "in_channels": model.in_channels}, sort_keys=True),
        "labels": json.dumps(model.labels),
        "stream": stream,
        **extra,
    }
    state = {name: tensor.detach().float().cpu() for name, tensor in model.state_dict().items()}
    write_weights(path, state, metadata, "safetensors", force=True)
