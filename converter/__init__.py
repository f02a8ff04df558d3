"""Exact TensorFlow → PyTorch conversion of I3D and inflated 2D→3D networks.

Importing the package is cheap: torch is only imported by the functions that build models,
so the conversion path runs on numpy + safetensors alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    import os

    import torch


def load_model(path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Build the eval-mode model a converted weights file describes and load its weights."""
    from converter.api import load_model as _load_model

    return _load_model(path, device=device)


__all__ = ["__version__", "load_model"]
