"""Which pixel range the videos are in, said by the user and checked on every video (never guessed).

FVD's recipe takes frames in 0..255 (uint8, or float 0..255). The commonest FVD mistake in public threads
is feeding [0, 1] floats as if they were 0..255 (universome/stylegan-v#41, npurson/fid-metrics#5): the
number comes out, 50× too large, with no error. So a float video whose values all lie in [0, 1] (and are
not all 0, which reads the same in both ranges) is refused under the default ``0-255`` range, and
``value_range="0-1"`` (``--value-range 0-1``) scales float videos by 255 after checking they are in
[0, 1]; uint8 videos are 0..255 either way.
"""

from __future__ import annotations

import torch

from converter.errors import ConversionError

VALUE_RANGES = ("0-255", "0-1")


def check_value_range(value_range: str) -> str:
    if value_range not in VALUE_RANGES:
        raise ConversionError(None, f"value range must be one of {', '.join(VALUE_RANGES)}, got {value_range!r}")
    return value_range


def to_0_255(x: torch.Tensor, value_range: str, name: str, indices: list[int]) -> torch.Tensor:
    """(B, T, H, W, 3) videos ``indices`` of ``name`` in ``value_range`` → the same videos in 0..255.

    ``value_range`` is that of float videos; uint8 ones are 0..255 whatever it says (so real videos
    decoded from files and generated [0, 1] tensors can be compared in one run). ConversionError
    (``name[index]: values lo..hi …; the fix``) for a video outside the range and for a float video in
    [0, 1] under ``0-255``.
    """
    check_value_range(value_range)
    if x.dtype == torch.bool or x.is_complex():
        raise ConversionError(name, f"videos must be real numbers 0..255, got {x.dtype}")
    if x.dtype == torch.uint8:  # 0..255 by construction, whatever the range said for floats
        return x
    low = x.amin(dim=(1, 2, 3, 4)).double().cpu().tolist()
    high = x.amax(dim=(1, 2, 3, 4)).double().cpu().tolist()
    top = 255.0 if value_range == "0-255" else 1.0
    for index, lo, hi in zip(indices, low, high, strict=True):
        where = f"{name}[{index}]"
        if not (lo >= 0.0 and hi <= top):
            fix = "FVD takes 0..255 frames" if top == 255.0 else "--value-range 0-1 takes values in [0, 1]"
            raise ConversionError(where, f"values {lo:g}..{hi:g} outside 0..{top:g} ({fix})")
        if value_range == "0-255" and 0.0 < hi <= 1.0:
            raise ConversionError(
                where,
                f"float values {lo:g}..{hi:g} lie in [0, 1], read as 0..255 pixels they would give a wrong FVD; "
                "pass --value-range 0-1 (value_range='0-1') to scale them by 255, or give 0..255 values",
            )
    return x * 255.0 if value_range == "0-1" else x
