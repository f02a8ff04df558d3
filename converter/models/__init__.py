"""Model registry: a weights file's ``architecture`` metadata names one of these builders.

Builders are imported lazily so that naming an architecture does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# architecture name -> "module:callable"; the callable takes the config as keyword arguments.
BUILDERS: dict[str, str] = {
    "i3d": "converter.models.i3d:InceptionI3d",
    "resnet3d": "converter.inflate.resnet:ResNet3d",
    "densenet3d": "converter.inflate.densenet:DenseNet3d",
}


def build(architecture: str, **config: Any) -> torch.nn.Module:
    """Instantiate the registered architecture with its config (e.g. num_classes, in_channels)."""
    try:
        module_name, attr = BUILDERS[architecture].split(":")
    except KeyError:
        known = ", ".join(sorted(BUILDERS))
        raise ValueError(f"unknown architecture {architecture!r} (known: {known})") from None
    return getattr(importlib.import_module(module_name), attr)(**config)


# architecture name -> module with ``parameter_shapes(**config)`` and ``infer_config(shapes)``, torch-free,
# so a conversion is verified against the architecture without building the model.
SPECS: dict[str, str] = {
    "i3d": "converter.models.i3d_spec",
}


def spec(architecture: str) -> Any:
    """The torch-free parameter spec module of an architecture."""
    try:
        return importlib.import_module(SPECS[architecture])
    except KeyError:
        raise ValueError(f"unknown architecture {architecture!r} (known: {', '.join(sorted(SPECS))})") from None
