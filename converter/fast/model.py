"""``FastI3D``: an eager I3D whose CPU fp32 inference runs in OpenVINO, with the eager model's contract.

Same call, same checks: ``model(x)`` and ``model.endpoints(x, [name])`` take (B, C, T, H, W) floats in
[-1, 1] or uint8 pixels (mapped by x / 127.5 − 1), refuse the same inputs with the same messages,
and return the same shapes. Anything the fast path does not cover — gradients, autocast (bf16), a
non-CPU device, training mode, other dtypes, sizes outside the export's dynamic range, several
endpoints at once (each would need its own export: ``visualize activations``) — runs the
wrapped eager model (``model.eager``), which stays the reference. Every other attribute (labels,
metadata, ``num_classes`` …) is the eager model's.

Threads: OpenVINO gets ``torch.get_num_threads()`` threads (so ``OMP_NUM_THREADS``/``torch.set_num_threads``
apply), without pinning them to cores, which a shared machine's other processes would contend for; a
batch of clips runs clip by clip, one clip per thread (``converter.fast.runner``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from functools import partial

import torch
from torch import nn

from converter.export.graph import input_ranges
from converter.fast.runner import OpenVINORunner
from converter.models import i3d_spec as spec
from converter.models.input_range import model_input

BACKENDS = ("fast", "eager")
BACKEND_ENV = "I3D_CONVERTER_BACKEND"  # the default when --backend is not given (unset: fast)
EXTRA = "pip install 'i3d-converter[cpu-fast]'"
_noticed: set[str] = set()


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def fast_available() -> str | None:
    """None when OpenVINO and the ONNX exporter are installed, else why not (one line). Found, not
    imported: importing them took 1.8 s of every command, and only a first export needs the exporter."""
    from importlib.util import find_spec

    for name in ("openvino", "onnx", "onnxruntime", "onnxscript"):  # onnxruntime: export_model checks with it
        try:
            found = find_spec(name)
        except (ImportError, ValueError):  # a parent package missing, or a module without a spec
            found = None
        if found is None:
            return f"{name} is not installed"
    return None


def default_backend() -> str:
    """``$I3D_CONVERTER_BACKEND`` (fast or eager) when set, else ``fast``; another value is a ConversionError."""
    import os

    from converter.errors import ConversionError

    value = os.environ.get(BACKEND_ENV, "").strip().lower() or "fast"
    if value not in BACKENDS:
        raise ConversionError(None, f"${BACKEND_ENV}={value!r}: choose {' or '.join(BACKENDS)}")
    return value


class FastI3D(nn.Module):
    """``model`` (eval-mode ``InceptionI3d``) with OpenVINO running its CPU fp32 inference; see the module."""

    def __init__(self, model: nn.Module, *, log: Callable[[str], None] = _stderr) -> None:
        super().__init__()
        self.eager = model
        self.training = model.training
        self._log = log
        self._runners: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
        self._sha256: str | None = getattr(model, "weights_sha256", None)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "eager":
                raise
            return getattr(self._modules["eager"], name)

    @property
    def check_input_range(self) -> bool:
        """The eager model's switch (``model.check_input_range = False`` sets it there, for both paths)."""
        return self.eager.check_input_range

    @check_input_range.setter
    def check_input_range(self, value: bool) -> None:
        self.eager.check_input_range = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Time-averaged logits (B, num_classes) of a (B, C, T, H, W) clip."""
        return self.endpoints(x, ["Logits"])["Logits"]

    def endpoints(self, x: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
        """The requested endpoints by TF name, as ``InceptionI3d.endpoints``."""
        names = list(dict.fromkeys(names))
        if not self._covers(x, names):
            return self.eager.endpoints(x, names)
        eager = self.eager
        eager.check_request(x, set(names))
        if not x.is_contiguous(memory_format=torch.channels_last_3d):  # the runner takes that one as it lies
            x = x.contiguous()  # aminmax is slow on other strides
        x = model_input(x, torch.float32, eager.check_input_range)
        if not all(self._in_range(name, x) for name in names):
            return eager.endpoints(x, names)  # exact there too; the export's range starts at sizes >= 2
        return {name: self.runner(name)(x) for name in names}

    def runner(self, endpoint: str) -> Callable[[torch.Tensor], torch.Tensor]:
        """OpenVINO's function for ``endpoint``, from the cached file (written and checked on first use)."""
        if endpoint not in self._runners:
            from converter.fast.artifacts import cached_onnx

            if self._sha256 is None:
                from converter.fvd.features import weights_sha256

                self._sha256 = weights_sha256(self.eager)
            try:
                check = partial(OpenVINORunner, cache=False)  # a file not yet checked leaves no compiled copy
                path = cached_onnx(self.eager, self._sha256, endpoint, check, self._log)
            except OSError as err:
                from converter.errors import ConversionError

                raise ConversionError(
                    getattr(err, "filename", None),
                    f"cannot write the fast path's cache ({err.strerror or err}): set $I3D_CONVERTER_HOME to a "
                    "writable folder, or use --backend eager",
                ) from None
            self._runners[endpoint] = OpenVINORunner(path)
        return self._runners[endpoint]

    def _covers(self, x: torch.Tensor, names: list[str]) -> bool:
        """True when the fast path computes what eager would: CPU, fp32 weights, inference, no autocast."""
        parameter = next(self.eager.parameters())
        return (
            not self.training
            and not self.eager.training
            and x.device.type == "cpu"
            and parameter.device.type == "cpu"
            and parameter.dtype == torch.float32
            and x.dtype in (torch.float32, torch.uint8)
            and not torch.is_autocast_enabled("cpu")
            and not (torch.is_grad_enabled() and (x.requires_grad or parameter.requires_grad))
            and len(names) == 1  # several (visualize): one export each would cost more than it saves
        )

    @staticmethod
    def _in_range(endpoint: str, x: torch.Tensor) -> bool:
        if endpoint not in spec.ENDPOINTS:
            return False
        ranges = input_ranges(endpoint, at_least_two=True)
        sizes = dict(zip(("batch", "time", "height", "width"), (x.shape[0], *x.shape[2:]), strict=True))
        return all(sizes[name] in ranges[name] for name in ranges)


def accelerate(
    model: nn.Module, backend: str | None = None, *, precision: str = "fp32", log: Callable[[str], None] = _stderr
) -> nn.Module:
    """``model`` for inference with ``backend`` (None: ``default_backend()``): ``fast`` wraps every CPU fp32
    I3D in it (one ``InceptionI3d``, or each stream of a fine-tuned ``StreamSum``) in ``FastI3D``; ``eager``
    returns it as it is.

    The fast path applies to CPU and ``fp32``/``tf32`` (on CPU both are IEEE float32); on other devices or
    in ``bf16`` the model is returned unchanged. Without the ``cpu-fast`` extra it is returned unchanged too,
    after one line saying which extra to install (printed once per process).
    """
    from converter.models.i3d import InceptionI3d

    backend = backend or default_backend()
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "eager" or precision == "bf16":
        return model
    streams = getattr(model, "streams", None)
    if isinstance(streams, nn.ModuleDict):
        for name in list(streams):
            streams[name] = accelerate(streams[name], backend, precision=precision, log=log)
        return model
    if not isinstance(model, InceptionI3d) or next(model.parameters()).device.type != "cpu":
        return model
    missing = fast_available()
    if missing is not None:
        if missing not in _noticed:
            _noticed.add(missing)
            log(f"note: running the eager backend: the fast CPU path needs the cpu-fast extra ({missing}; {EXTRA})")
        return model
    return FastI3D(model.eval(), log=log)
