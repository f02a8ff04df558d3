"""PyTorch ``.pt``/``.pth`` files (a state_dict, or a checkpoint dict holding one), read with
``torch.load(weights_only=True)`` only: torch's restricted unpickler builds tensors and plain
containers and refuses every other global, so a hostile file runs nothing.

Both of torch's on-disk forms are recognised by content: the zip archive (``*/data.pkl`` inside)
and the legacy pickle stream that opens with torch's magic number.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from converter.errors import ConversionError

_ZIP_MAGIC = b"PK\x03\x04"
# pickle protocol 2, LONG1 of 10 bytes: torch.serialization.MAGIC_NUMBER (0x1950a86a20f9469cfc6c)
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
# Where training scripts keep the weights inside a checkpoint dict (ours writes "state_dict").
_WRAPPERS = ("state_dict", "model_state_dict", "model", "net")


def sniff(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(len(_LEGACY_MAGIC))
        if head.startswith(_LEGACY_MAGIC):
            return True
        if not head.startswith(_ZIP_MAGIC):
            return False
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist())
    except Exception:  # zipfile raises assorted types (NotImplementedError for odd versions); a sniff only says no
        return False


def _state_dict(path: Path, blob: Any) -> dict[str, Any]:
    """The dict of tensors: the blob itself, or the one a checkpoint dict keeps under a usual name."""
    import torch

    if isinstance(blob, dict):
        if blob and all(isinstance(v, torch.Tensor) for v in blob.values()):
            return blob
        for name in _WRAPPERS:
            inner = blob.get(name)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner
        found = ", ".join(repr(k) for k in list(blob)[:8])
        raise ConversionError(path, f"no dict of tensors here, nor under {'/'.join(_WRAPPERS)}; keys: {found}")
    raise ConversionError(path, f"expected a state_dict (a dict of tensors), got {type(blob).__name__}")


class TorchStateDict:
    """Parameter names as PyTorch spells them (``Conv3d_1a_7x7.conv3d.weight``); whole file in memory."""

    format = "torch-state-dict"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._loaded: dict[str, Any] | None = None

    @property
    def _tensors(self) -> dict[str, Any]:
        if self._loaded is None:
            import torch

            try:
                blob = torch.load(self.path, map_location="cpu", weights_only=True)
            except OSError as err:
                raise ConversionError(self.path, f"cannot read: {err.strerror or err}") from None
            except Exception as err:  # torch raises many types for a damaged or refused file
                reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise ConversionError(self.path, f"not a loadable weights-only PyTorch file: {reason}") from None
            tensors = _state_dict(self.path, blob)
            for key in tensors:
                if not isinstance(key, str):
                    raise ConversionError(self.path, f"state_dict key {key!r} is not a string")
            self._loaded = dict(tensors)
        return self._loaded

    def files(self) -> list[Path]:
        return [self.path]

    def keys(self) -> list[str]:
        return sorted(self._tensors)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._tensors[key].shape)

    def dtype(self, key: str) -> np.dtype:
        return self._numpy(key, self._tensors[key].reshape(-1)[:0]).dtype  # converts no data

    def read(self, key: str) -> np.ndarray:
        if key not in self._tensors:
            raise ConversionError(self.path, f"no tensor {key!r} (or already released)")
        return self._numpy(key, self._tensors[key])

    def _numpy(self, key: str, tensor: Any) -> np.ndarray:
        import torch

        try:
            tensor = tensor.detach().cpu().contiguous()
            if tensor.dtype == torch.bfloat16:
                import ml_dtypes

                return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
            return tensor.numpy()
        except (TypeError, RuntimeError) as err:
            raise ConversionError(self.path, f"tensor {key!r} ({tensor.dtype}): {err}") from None

    def release(self, key: str) -> None:
        """Drop a tensor once written: the whole file is in memory, so a one-pass conversion frees as it goes."""
        self._tensors.pop(key, None)


def open(path: Path) -> TorchStateDict:  # noqa: A001 - the reader interface's name
    return TorchStateDict(path)
