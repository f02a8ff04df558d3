"""Readers: one module per source format, each yielding a ``Source`` the engine maps.

``open_source`` recognises the format from the file's contents (not its name) and names
what it looked for when nothing fits.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from converter.errors import ConversionError


class Source(Protocol):
    """A checkpoint opened for reading: names, shapes and dtypes first, data on demand."""

    path: Path
    format: str

    def files(self) -> list[Path]: ...
    def keys(self) -> list[str]: ...
    def shape(self, key: str) -> tuple[int, ...]: ...
    def dtype(self, key: str) -> np.dtype: ...
    def read(self, key: str) -> np.ndarray: ...


# format name -> module; each module has ``sniff(path) -> bool`` and ``open(path) -> Source``.
# A legacy torch file is a pickle too, so its more specific sniff comes before the Flax pickle's.
READERS: dict[str, str] = {
    "tf-checkpoint": "converter.readers.tf_checkpoint",
    "tf-checkpoint-v1": "converter.readers.tf_checkpoint_v1",
    "torch-state-dict": "converter.readers.torch_state_dict",
    "flax-pickle": "converter.readers.flax_pickle",
    "safetensors": "converter.readers.safetensors_file",
    "keras-h5": "converter.readers.keras_h5",
    "tf-savedmodel": "converter.readers.savedmodel",
}


def open_source(path: str | os.PathLike[str], fmt: str | None = None) -> Source:
    """Open ``path`` with the reader for ``fmt``, or the one whose ``sniff`` recognises it; a folder holding
    one TF checkpoint (``checkpoint`` file or a single ``*.index``) is read as that checkpoint."""
    path = Path(path)
    if fmt is not None:
        if fmt not in READERS:
            raise ConversionError(path, f"unknown source format {fmt!r} (known: {', '.join(READERS)})")
        if fmt == "tf-checkpoint" and path.is_dir():
            path = _folder_checkpoint(path) or path
        return importlib.import_module(READERS[fmt]).open(path)
    for module_name in READERS.values():
        module = importlib.import_module(module_name)
        if module.sniff(path):
            return module.open(path)
    if path.is_dir():  # not a SavedModel: a checkpoint folder as the official repository ships them?
        prefix = _folder_checkpoint(path)
        if prefix is not None:
            return open_source(prefix)
    if not path.exists() and not Path(f"{path}.index").exists():
        raise ConversionError(path, "no such file or checkpoint prefix")
    raise ConversionError(path, f"not a checkpoint format this tool reads (tried: {', '.join(READERS)})")


def _folder_checkpoint(path: Path) -> Path | None:
    from converter.readers.tf_checkpoint import folder_checkpoint

    return folder_checkpoint(path)
