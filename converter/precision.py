"""The arithmetic a model runs in, chosen explicitly: ``fp32``, ``tf32`` or ``bf16``.

PyTorch lets cuDNN run float32 convolutions in TF32 by default (10-bit mantissa products on
Ampere and later GPUs), so an "fp32" result on a GPU silently is not one. ``precision()`` sets the
float32 precision of cuDNN convolutions/RNNs, CUDA matmuls and oneDNN (CPU) for the duration of a
block and restores what was there after:

- ``fp32``: IEEE float32 everywhere (TF32 off): what the parity suite proves against TensorFlow.
- ``tf32``: TF32 allowed for CUDA matmuls and cuDNN convolutions (CPU: as fp32).
- ``bf16``: ``torch.autocast`` to bfloat16 on the model's device; ``prepare`` also puts the
  model in ``channels_last_3d``, the layout oneDNN's AMX bf16 convolutions run fastest in on CPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported when a model runs, not when the command line is parsed
    import torch

PRECISIONS = ("fp32", "tf32", "bf16")
# oneDNN (CPU) float32 switches of torch >= 2.9 ("ieee" is true float32); absent on older torch.
_ONEDNN = ("conv", "matmul", "rnn")


def check(mode: str) -> str:
    """``mode`` if it is one of ``PRECISIONS``, else ValueError."""
    if mode not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {mode!r}")
    return mode


@contextlib.contextmanager
def precision(mode: str, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the block in ``mode`` on ``device``'s type; every switch is restored after, also on error.

    Uses ``torch.backends.cuda.matmul.allow_tf32`` and ``torch.backends.cudnn.allow_tf32`` (which
    keep torch's newer per-backend ``fp32_precision`` settings consistent) and oneDNN's
    ``fp32_precision``.
    """
    import torch

    check(mode)
    device = torch.device(device)
    backends = torch.backends
    saved = backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32
    onednn = [
        getattr(backends.mkldnn, op) for op in _ONEDNN if hasattr(getattr(backends.mkldnn, op, None), "fp32_precision")
    ]
    saved_onednn = [switch.fp32_precision for switch in onednn]
    try:
        backends.cuda.matmul.allow_tf32 = backends.cudnn.allow_tf32 = mode == "tf32"
        for switch in onednn:
            switch.fp32_precision = "ieee"
        autocast = torch.autocast(device.type, dtype=torch.bfloat16) if mode == "bf16" else contextlib.nullcontext()
        with autocast:
            yield
    finally:
        backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32 = saved
        for switch, value in zip(onednn, saved_onednn, strict=True):
            switch.fp32_precision = value


def prepare(model: torch.nn.Module, mode: str) -> torch.nn.Module:
    """``model`` laid out for ``mode``: channels_last_3d for bf16 (oneDNN/AMX and cuDNN prefer it), as is otherwise."""
    import torch

    if check(mode) == "bf16":
        model.to(memory_format=torch.channels_last_3d)
    return model
