"""Work a forward pass does, counted rather than timed: the elements it writes into new memory.

On a shared 2-core runner a timing swings by 2x within minutes, so a speed gate built on wall time
either flips on noise or is too wide to catch anything. The fast path the gate protects is a saving in
memory traffic (no ``F.pad`` copy before every conv and pool; the padding goes into the op), and that is
countable exactly: every torch function the model calls is seen by a ``TorchFunctionMode``, and each
tensor it returns in fresh storage adds its element count. Views and no-op returns (``contiguous`` on a
contiguous tensor, ``detach``) share an input's storage and count nothing. The count is deterministic
for a given torch version, model and input size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import torch
from torch.overrides import TorchFunctionMode


class ElementsWritten(TorchFunctionMode):
    """Counts the elements of every tensor a torch function returns in storage none of its inputs has."""

    def __init__(self) -> None:
        super().__init__()
        self.by_function: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.by_function.values())

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        inputs = {_storage(t) for t in _tensors((args, kwargs))}
        fresh = sum(t.numel() for t in _tensors(result) if _storage(t) not in inputs)
        if fresh:
            self.by_function[getattr(func, "__name__", str(func))] += fresh
        return result


def elements_written(call: Callable[[], object]) -> ElementsWritten:
    """Run ``call`` under the counter (in inference mode) and return it, filled."""
    with torch.inference_mode(), ElementsWritten() as counter:
        call()
    return counter


def _tensors(value: object) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


def _storage(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage().data_ptr()
