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
    """State dict and metadata of a ``.safetensors`` or ``.pt`` file written by this tool."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(path, "no such weights file")
    if path.suffix == ".pt" or path.suffix == ".pth":
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises many types for a bad archive
            raise ConversionError(path, f"not a readable .pt file: {err}") from None
        if not isinstance(blob, dict) or "state_dict" not in blob:
            raise ConversionError(path, "not a weights file written by this tool (no state_dict/metadata)")
        return blob["state_dict"], dict(blob.get("metadata", {}))
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, "pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise ConversionError(path, f"not a readable safetensors file: {err}") from None


def load_model(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu", fast: bool = False
) -> torch.nn.Module:
    """The eval-mode model a weights file's metadata describes, with its weights loaded strictly.

    ``fast=True``: an I3D on CPU comes wrapped in ``converter.fast.FastI3D`` (OpenVINO runs its fp32
    inference; same call and checks, logits within 5e-5 of eager; docs/speed.md)."""
    state, meta = read_weights(path)
    if "architecture" not in meta:
        raise ConversionError(path, "metadata names no architecture (not written by this tool?)")
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
