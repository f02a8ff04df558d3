"""Deployable model files of I3D: TorchScript, ONNX and torch.export programs, each checked against eager.

``export_model`` records the model (up to one endpoint) with the chosen input dimensions dynamic,
writes it to a temporary file beside the output, loads that file back with its own runtime (``torch.jit``,
ONNX Runtime, ``torch.export``), compares it with the eager model at several input sizes (odd and even,
smallest and largest allowed, batch 1 and 3 when batch is dynamic), and only then renames it into place:
a file that exists has been shown to compute what the eager model computes.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
from torch import nn

from converter.errors import ConversionError
from converter.export.graph import DIMENSIONS, EndpointNet, input_ranges
from converter.writers import as_new_file

FORMATS = ("torchscript", "onnx", "exported-program")
SUFFIXES = {"torchscript": ".pt", "onnx": ".onnx", "exported-program": ".pt2"}
TOLERANCE = 1e-4  # max |exported - eager|, on outputs of magnitude up to ~1 (relative above that)

Runner = Callable[[torch.Tensor], torch.Tensor]


def example_shape(endpoint: str, dynamic: Iterable[str], shape: Sequence[int] | None = None) -> tuple[int, ...]:
    """(B, T, H, W) an export records at: ``shape`` (default 1x16x224x224), batch 2 when batch is dynamic
    (torch.export would fix a batch of 1 as a constant). Refuses sizes outside the endpoint's range."""
    dims = dict(zip(DIMENSIONS, shape or (1, 16, 224, 224), strict=True))
    if "batch" in dynamic:
        dims["batch"] = 2
    for name, allowed in input_ranges(endpoint, at_least_two=False).items():
        if dims[name] not in allowed:
            raise ConversionError(None, f"{name} {dims[name]} is outside what {endpoint} accepts ({allowed})")
    return tuple(dims[name] for name in DIMENSIONS)


def check_dynamic(names: Iterable[str]) -> tuple[str, ...]:
    """The dynamic dimensions asked for, validated; channels is refused (the first conv's weight fixes it)."""
    names = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    for name in names:
        if name in ("channels", "channel"):
            raise ConversionError(
                None, "channels cannot be dynamic: the first convolution's weight fixes them (3 RGB, 2 flow)"
            )
        if name not in DIMENSIONS:
            raise ConversionError(None, f"unknown dynamic dimension {name!r}; choose from {', '.join(DIMENSIONS)}")
    return names


def verification_shapes(
    endpoint: str, fmt: str, dynamic: Sequence[str], example: Sequence[int]
) -> list[tuple[int, ...]]:
    """Input (B, T, H, W) sizes a written file is checked at: every dynamic dimension takes its smallest
    allowed size, the next (odd and even), a middle one and its largest (or 9 beyond ``example``), each
    once, shifted per dimension so that height and width differ; batch 1 and 3."""
    ranges = input_ranges(endpoint, at_least_two=fmt != "torchscript")
    base = dict(zip(DIMENSIONS, example, strict=True))
    choices: dict[str, list[int]] = {}
    for name in DIMENSIONS:
        if name not in dynamic:
            choices[name] = [base[name]]
        elif name == "batch":
            choices[name] = [1, 3]
        else:
            allowed = ranges[name]
            top = allowed.high if allowed.high is not None else max(base[name], allowed.low) + 9
            choices[name] = sorted({allowed.low, allowed.low + 1, (allowed.low + top) // 2, top})
    count = max(len(c) for c in choices.values())
    # shifted per dimension, so height and width differ (non-square) and odd meets even
    shapes = [tuple(choices[n][(i + k) % len(choices[n])] for k, n in enumerate(DIMENSIONS)) for i in range(count)]
    return list(dict.fromkeys(shapes))


def _dynamic_shapes(endpoint: str, dynamic: Sequence[str]) -> dict[str, dict[int, object]]:
    from torch.export import Dim

    ranges = input_ranges(endpoint, at_least_two=True)
    axes = {"batch": 0, "time": 2, "height": 3, "width": 4}
    spec: dict[int, object] = {}
    for name in dynamic:
        allowed = ranges[name]
        bounds = {"min": allowed.low} | ({"max": allowed.high} if allowed.high is not None else {})
        spec[axes[name]] = Dim(name, **bounds)
    return {"x": spec}


def _write_torchscript(net: EndpointNet, example: torch.Tensor, path: Path, dynamic: Sequence[str], opset) -> None:
    """A trace: TF 'SAME' padding is recorded as shape arithmetic, so every dimension stays free."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(net, example, check_trace=False)
    traced.save(str(path))


def _write_exported_program(net: EndpointNet, example: torch.Tensor, path: Path, dynamic, opset) -> None:
    program = torch.export.export(net, (example,), dynamic_shapes=_dynamic_shapes(net.endpoint, dynamic))
    torch.export.save(program, str(path))


def _write_onnx(net: EndpointNet, example: torch.Tensor, path: Path, dynamic, opset: int | None) -> None:
    """torch.onnx's exporter built on torch.export (the TorchScript-based one cannot export BatchNorm
    without gamma), with the same dynamic dimensions."""
    _onnx_modules()
    kwargs = {} if opset is None else {"opset_version": opset}
    logger = logging.getLogger("torch.onnx")  # its notes (e.g. torchvision ops skipped) are not the user's
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            program = torch.onnx.export(
                net,
                (example,),
                dynamo=True,
                dynamic_shapes=_dynamic_shapes(net.endpoint, dynamic),
                input_names=["x"],
                output_names=[net.endpoint],
                external_data=False,
                verbose=False,
                **kwargs,
            )
    finally:
        logger.setLevel(level)
    program.save(str(path))


def _onnx_modules():
    try:
        import onnx  # noqa: F401
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ConversionError(
            None, f"--format onnx needs the onnx extra (pip install 'i3d-converter[onnx]'): {err}"
        ) from None
    return onnxruntime


def load_onnx(path: str | os.PathLike[str]) -> Runner:
    """A function running an ONNX file in ONNX Runtime (CPU) on a torch tensor."""
    ort = _onnx_modules()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {name: x.detach().cpu().float().numpy()})[0])

    return run


def load(path: str | os.PathLike[str], fmt: str) -> Runner:
    """The written file as a function of one (B, C, T, H, W) tensor, run by its format's own runtime."""
    path = Path(path)
    if fmt == "onnx":
        return load_onnx(path)
    if fmt == "torchscript":
        return torch.jit.load(str(path), map_location="cpu")
    return torch.export.load(str(path)).module()


WRITERS = {"torchscript": _write_torchscript, "onnx": _write_onnx, "exported-program": _write_exported_program}


def max_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| over max(1, max |want|): absolute for outputs up to 1, relative above."""
    if got.shape != want.shape:
        return float("inf")
    scale = max(1.0, want.abs().max().item())
    return (got.double() - want.double()).abs().max().item() / scale


def verify(
    runner: Runner, net: nn.Module, shapes: Iterable[Sequence[int]], in_channels: int, *, seed: int = 0
) -> list[tuple[tuple[int, ...], float]]:
    """(shape, error) of ``runner`` against ``net`` on random clips in [-1, 1] of each (B, T, H, W)."""
    generator = torch.Generator().manual_seed(seed)
    results = []
    for b, t, h, w in shapes:
        x = torch.rand(b, in_channels, t, h, w, generator=generator) * 2 - 1
        with torch.no_grad():
            results.append(((b, t, h, w), max_error(runner(x), net(x))))
    return results


def export_model(
    model: nn.Module,
    fmt: str,
    out: str | os.PathLike[str],
    *,
    endpoint: str = "Logits",
    dynamic: Iterable[str] = DIMENSIONS,
    shape: Sequence[int] | None = None,
    opset: int | None = None,
    verify_shapes: Iterable[Sequence[int]] | None = None,
) -> list[tuple[tuple[int, ...], float]]:
    """Write ``model`` (eval-mode I3D) up to ``endpoint`` as ``fmt`` to ``out``; returns the checks made.

    ``dynamic``: which of batch, time, height, width may vary; the others keep ``shape``'s (B, T, H, W)
    sizes (default 1x16x224x224). ``verify_shapes`` overrides the (B, T, H, W) sizes checked. Raises
    ``ConversionError`` naming the problem (nothing is written) if the export fails or differs from eager
    by more than ``TOLERANCE``.
    """
    if fmt not in FORMATS:
        raise ConversionError(out, f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if opset is not None and fmt != "onnx":
        raise ConversionError(out, "--opset applies to --format onnx only")
    dynamic = check_dynamic(dynamic)
    out = Path(out)
    example_sizes = example_shape(endpoint, dynamic, shape)
    model = copy.deepcopy(model).eval().requires_grad_(False)  # the file's parameters need no gradients
    net = EndpointNet(model, endpoint, symbolic_logits=fmt != "torchscript").eval()
    reference = EndpointNet(model, endpoint).eval()
    b, t, h, w = example_sizes
    example = torch.rand(b, net.in_channels, t, h, w, generator=torch.Generator().manual_seed(1)) * 2 - 1
    shapes = verify_shapes or verification_shapes(endpoint, fmt, dynamic, example_sizes)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=SUFFIXES[fmt])
    os.close(fd)
    tmp = Path(name)
    try:
        with torch.no_grad():
            try:
                WRITERS[fmt](net, example, tmp, dynamic, opset)
            except ConversionError:
                raise
            except Exception as err:  # exporters raise many types; the first line says what
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise ConversionError(out, f"{fmt} export of {endpoint} failed: {first}") from err
        checks = verify(load(tmp, fmt), reference, shapes, net.in_channels)
        bad = [(s, e) for s, e in checks if not e <= TOLERANCE]
        if bad:
            shown = ", ".join(f"{'x'.join(map(str, s))}: {e:.2e}" for s, e in bad)
            raise ConversionError(out, f"{fmt} file differs from the eager model (max |Δ| > {TOLERANCE}) at {shown}")
        as_new_file(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return checks
