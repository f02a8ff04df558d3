"""PyTorch ``.pt``/``.pth`` files: a state_dict, a training checkpoint holding one, or a whole pickled
``nn.Module``, read through a restricted unpickler (``torch_pickle``): tensors and plain containers are
rebuilt, every other object becomes an inert placeholder, so a hostile file runs nothing and harmless
extras (``args``, ``optimizer``, ``epoch``) are skipped and listed by name rather than refusing the file.

Both of torch's on-disk forms are recognised by content: the zip archive (``*/data.pkl`` inside)
and the legacy pickle stream that opens with torch's magic number. TorchScript archives (code, not
weights) are refused.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from converter.errors import ConversionError
from converter.readers.torch_pickle import Foreign, causes, describe, load_file

__all__ = ["TorchStateDict", "causes", "open", "sniff", "state_dict"]

_ZIP_MAGIC = b"PK\x03\x04"
# pickle protocol 2, LONG1 of 10 bytes: torch.serialization.MAGIC_NUMBER (0x1950a86a20f9469cfc6c)
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
# Where training scripts keep the weights inside a checkpoint dict (ours writes "state_dict").
_WRAPPERS = ("state_dict", "model_state_dict", "model", "net", "network", "module", "weights")


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


def _is_tensor_dict(value: Any) -> bool:
    import torch

    return isinstance(value, dict) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


def _module_tensors(obj: Any, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """A whole pickled ``nn.Module`` (a placeholder holding ``_parameters``, ``_buffers``, ``_modules``):
    its state_dict, as ``module.state_dict()`` would name it; empty for anything else."""
    import torch

    state = obj.state if isinstance(obj, Foreign) else None
    if depth > 64 or not isinstance(state, dict) or not isinstance(state.get("_parameters"), dict):
        return {}
    skip = state.get("_non_persistent_buffers_set")
    skip = skip if isinstance(skip, set | frozenset) else set()
    tensors = {}
    for group in (state["_parameters"], state.get("_buffers")):
        if isinstance(group, dict):
            tensors.update(
                {f"{prefix}{k}": v for k, v in group.items() if isinstance(v, torch.Tensor) and k not in skip}
            )
    children = state.get("_modules")
    for name, child in children.items() if isinstance(children, dict) else ():
        tensors.update(_module_tensors(child, f"{prefix}{name}.", depth + 1))
    return tensors


def state_dict(path: Path, blob: Any) -> tuple[dict[str, Any], list[str]]:
    """The dict of tensors (the blob itself, the one a checkpoint dict keeps under a usual name, or a
    pickled module's), and the checkpoint's other entries as ``key (qualified type)``."""
    if _is_tensor_dict(blob):
        return blob, []
    if _module_tensors(blob):
        return _module_tensors(blob), []
    if isinstance(blob, dict):
        for name in _WRAPPERS:
            inner = blob.get(name)
            found = inner if _is_tensor_dict(inner) else _module_tensors(inner)
            if found:
                return found, [f"{key} ({describe(value)})" for key, value in blob.items() if key != name]
        found = ", ".join(f"{k!r} ({describe(v)})" for k, v in list(blob.items())[:8])
        raise ConversionError(path, f"no dict of tensors here, nor under {'/'.join(_WRAPPERS)}; keys: {found}")
    raise ConversionError(path, f"expected a state_dict (a dict of tensors), got {describe(blob)}")


class TorchStateDict:
    """Parameter names as PyTorch spells them (``Conv3d_1a_7x7.conv3d.weight``); whole file in memory."""

    format = "torch-state-dict"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._loaded: dict[str, Any] | None = None
        self._extras: list[str] = []

    @property
    def _tensors(self) -> dict[str, Any]:
        if self._loaded is None:
            blob = load_file(self.path)
            tensors, self._extras = state_dict(self.path, blob)
            for key in tensors:
                if not isinstance(key, str):
                    raise ConversionError(self.path, f"state_dict key {key!r} is not a string")
            self._loaded = dict(tensors)
        return self._loaded

    def files(self) -> list[Path]:
        return [self.path]

    def extras(self) -> list[str]:
        """What the checkpoint holds besides the weights, skipped: ``key (qualified type)``."""
        self._tensors  # noqa: B018 - the file is read on first use
        return list(self._extras)

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
