"""What I3D's input must look like, checked once at the model's entrance.

The I3D recipe feeds RGB as x / 127.5 - 1 and flow clipped to [-20, 20] and divided by 20, so every
valid input lies in [-1, 1] (Carreira & Zisserman 2017; DeepMind's ``evaluate_sample.py``). A clip
in 0..255 still runs and gives confident nonsense, so it is refused here with what was seen; a
uint8 clip is mapped by the recipe instead, and a float clip of another width (numpy's float64, float16,
bfloat16) is cast to the model's dtype after the check rather than failing inside a convolution. The check
is one ``aminmax`` and is skipped while the model is traced, scripted, compiled or exported, so those graphs
hold no data-dependent branch.
"""

from __future__ import annotations

import torch

# Values this far outside [-1, 1] are still accepted (resampling overshoot, half-precision rounding).
TOLERANCE = 1e-3


def exporting() -> bool:
    """True while TorchScript, tracing, torch.compile/torch.export or ONNX export is looking at the code."""
    return (
        torch.jit.is_scripting()
        or torch.jit.is_tracing()
        or torch.compiler.is_compiling()
        or torch.onnx.is_in_onnx_export()
    )


def model_input(x: torch.Tensor, dtype: torch.dtype, check: bool = True) -> torch.Tensor:
    """``x`` ready for the model, in the model's ``dtype``: uint8 mapped by x / 127.5 - 1, floats of any width
    (float64 from numpy, float16, bfloat16) checked to lie in [-1, 1], then cast to ``dtype``.

    Raises ValueError naming the dtype for other types (int8..int64, bool, complex), and naming the observed
    min/max when a float clip is outside [-1, 1] (by more than ``TOLERANCE``); ``check=False``
    (``model.check_input_range = False``) skips the range check, not the cast.
    """
    if x.dtype == torch.uint8:
        return x.to(dtype) / 127.5 - 1.0
    if not x.is_floating_point():
        raise ValueError(f"input dtype {x.dtype}: pass uint8 pixels (0..255) or floats in [-1, 1]")
    if check and x.numel() and not x.is_meta:
        _check_range(x)
    return x if x.dtype == dtype else x.to(dtype)


def _check_range(x: torch.Tensor) -> None:
    low, high = (float(v) for v in torch.aminmax(x.detach()))
    if low >= -1.0 - TOLERANCE and high <= 1.0 + TOLERANCE:
        return
    hint = (
        " (it looks like 0..255 pixels: pass uint8, or x / 127.5 - 1 as the I3D recipe does)"
        if low >= 0.0 and high > 2.0
        else ""
    )
    raise ValueError(
        f"input values span [{low:.6g}, {high:.6g}], expected [-1, 1] (RGB x / 127.5 - 1, flow clipped to "
        f"±20 then / 20){hint}; set model.check_input_range = False to run anyway"
    )
