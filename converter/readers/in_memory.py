"""The accessors of a source held whole in memory as numpy arrays (a pickle; an HDF5 file parsed in a child)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from converter.errors import ConversionError


class InMemoryArrays:
    """Subclasses set ``path`` and provide ``_arrays`` (an attribute, or a property that loads on first use).

    Each array is released once written, so a one-pass conversion frees the memory as it goes.
    """

    path: Path
    _arrays: dict[str, np.ndarray]

    def files(self) -> list[Path]:
        return [self.path]

    def keys(self) -> list[str]:
        return sorted(self._arrays)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._arrays[key].shape)

    def dtype(self, key: str) -> np.dtype:
        return self._arrays[key].dtype

    def read(self, key: str) -> np.ndarray:
        if key not in self._arrays:
            raise ConversionError(self.path, f"no tensor {key!r} (or already released)")
        return self._arrays[key]

    def release(self, key: str) -> None:
        self._arrays.pop(key, None)
