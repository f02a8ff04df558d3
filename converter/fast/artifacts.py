"""The fast path's files: I3D up to one endpoint as ONNX with batch, time, height and width dynamic,
written once per weights and endpoint under ``<cache_home()>/fast/`` and checked before first use.

``converter.export.export_model`` writes the file and checks it with ONNX Runtime against the eager
model; here OpenVINO, which runs it, is checked too (max |Δ| ≤ ``TOLERANCE`` at two sizes) before the
file is renamed to its cached name. A cached name is only ever a file that passed both checks. The
name holds the weights' sha256 (over the state dict, any file format), the endpoint, the dynamic
dimensions and the versions of the tool, torch and onnx that wrote it.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from converter.export.graph import DIMENSIONS, input_ranges
from converter.user_cache import cache_home

TOLERANCE = 1e-4  # as converter.export: max |Δ| over max(1, |eager|)
FORMAT_VERSION = 1  # bump when what is written changes


def fast_dir() -> Path:
    """``<cache_home()>/fast``: where the fast path's ONNX files live."""
    return cache_home() / "fast"


def check_shapes(endpoint: str) -> list[tuple[int, int, int, int]]:
    """(B, T, H, W) sizes a new file is checked at: the smallest the export accepts (width one more), and
    batch 2 of 10x224x223 (even and odd sizes, batch and time beyond the first)."""
    ranges = input_ranges(endpoint, at_least_two=True)
    small = (1, ranges["time"].low, ranges["height"].low, ranges["width"].low + 1)
    return [small, (2, max(10, ranges["time"].low + 1), 224, 223)]


def cache_name(sha256: str, endpoint: str) -> str:
    """The file name for weights ``sha256`` up to ``endpoint`` under this tool, torch and onnx (its
    installed version, read without importing it: 0.8 s)."""
    from importlib.metadata import version

    from converter import __version__

    versions = f"c{__version__}-torch{torch.__version__}-onnx{version('onnx')}-f{FORMAT_VERSION}"
    dynamic = "".join(d[0] for d in DIMENSIONS)
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"i3d-{sha256[:32]}-{endpoint}-dyn{dynamic}-{versions}.onnx")


def cached_onnx(
    model: nn.Module,
    sha256: str,
    endpoint: str,
    compile_check: Callable[[Path], Callable[[torch.Tensor], torch.Tensor]],
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> Path:
    """The cached ONNX file of ``model`` up to ``endpoint``, written and checked first when missing.

    ``compile_check(path)`` gives the runner the fast path will use; it is compared with the eager
    model before the file takes its cached name. Raises ``ConversionError`` when the export fails or
    differs from eager (nothing is cached then).
    """
    from converter.errors import ConversionError
    from converter.export import export_model
    from converter.export.formats import verify

    path = fast_dir() / cache_name(sha256, endpoint)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    log(f"fast path: exporting I3D up to {endpoint} for OpenVINO, once per weights and endpoint …")
    unchecked = path.with_name(f".{path.stem}.{os.getpid()}.unchecked.onnx")
    try:
        shapes = check_shapes(endpoint)
        export_model(model, "onnx", unchecked, endpoint=endpoint, dynamic=DIMENSIONS, verify_shapes=shapes[:1])
        from converter.export.graph import EndpointNet

        reference = EndpointNet(model, endpoint).eval()
        checks = verify(compile_check(unchecked), reference, shapes, model.in_channels, seed=1)
        bad = [(s, e) for s, e in checks if not e <= TOLERANCE]
        if bad:
            shown = ", ".join(f"{'x'.join(map(str, s))}: {e:.2e}" for s, e in bad)
            raise ConversionError(path, f"OpenVINO differs from the eager model (max |Δ| > {TOLERANCE}) at {shown}")
        os.replace(unchecked, path)
    finally:
        unchecked.unlink(missing_ok=True)
    worst = max(e for _, e in checks)
    log(
        f"fast path: {endpoint} ready in {time.perf_counter() - start:.1f} s (max |Δ| vs eager {worst:.1e}), "
        f"cached in {path}"
    )
    return path
