"""What every model benchmark shares: the case it measures, the model and step it times, and the record.

A ``Case`` names everything a timing depends on (model, ours or the dynamic-pad baseline, forward or
SGD training step, device, batch, clip size, precision, memory format, eager/fused/compiled). ``step``
returns a callable that ends with a device synchronisation, so a timer around it measures the work
and not the launch. ``measure`` warms up (cuDNN autotuning, compilation, CUDA-graph recording), picks a
round count that fits a time budget, runs pytest-benchmark's pedantic mode and fills ``extra_info``
with throughput, FLOP/s and MFU from FLOPs counted on the meta device, never hard-coded.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.dynamic_pad import DynamicPadI3d
from converter.inflate.densenet import DenseNet3d
from converter.inflate.resnet import ResNet3d
from converter.models.i3d import InceptionI3d

CL = torch.channels_last_3d
CUDA = torch.cuda.is_available()
STREAMS = {"i3d-rgb": 3, "i3d-flow": 2}
INFLATED = {"resnet50": 50, "resnet101": 101, "resnet152": 152}
INFLATED |= {f"densenet{v}": v for v in (121, 161, 169, 201)}
# Dense (non-sparse) peak TFLOP/s from NVIDIA's datasheets, (fp32, tf32, bf16); the first name that
# occurs in the device name wins, so the specific variants come first. Unknown devices get no MFU.
PEAK_TFLOPS = {
    "H100 PCIe": (51.2, 378.0, 756.0),
    "H100 NVL": (60.0, 417.5, 835.5),
    "H200 NVL": (60.0, 417.5, 835.5),
    "H100": (66.9, 494.7, 989.4),
    "H200": (66.9, 494.7, 989.4),
    "A100": (19.5, 156.0, 312.0),
}
PRECISIONS = ("fp32", "tf32", "bf16")


@dataclass(frozen=True)
class Case:
    """One timed configuration; ``group`` gathers the implementations measured on the same work."""

    model: str  # i3d-rgb, i3d-flow, resnet50..152, densenet121..201
    task: str  # forward (inference) or train (forward + backward + SGD step)
    device: str
    batch: int
    frames: int
    size: int
    impl: str = "ours"  # ours or baseline (the dynamic-pad port, I3D only)
    precision: str = "fp32"  # fp32 (IEEE), tf32 (CUDA only), bf16 (autocast)
    layout: str = "ncdhw"  # ncdhw or channels_last
    mode: str = "eager"  # eager, fused (BN folded), compile, cudagraphs (compile reduce-overhead)

    @property
    def group(self) -> str:
        return f"{self.model} {self.task} {self.device} {self.precision} b{self.batch} {self.frames}x{self.size}²"

    @property
    def variant(self) -> str:
        extras = [self.layout] if self.layout != "ncdhw" else []
        extras += [self.mode] if self.mode != "eager" else []
        return "-".join([self.impl, *extras])

    @property
    def work(self) -> str:
        """The group as an ASCII test id."""
        return f"{self.model}-{self.task}-{self.device}-{self.precision}-b{self.batch}-{self.frames}x{self.size}"

    @property
    def id(self) -> str:
        return f"{self.work}-{self.variant}"

    @property
    def in_channels(self) -> int:
        return STREAMS.get(self.model, 3)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


@contextmanager
def float32_math(case: Case) -> Iterator[None]:
    """IEEE fp32 or TF32 for CUDA convs and matmuls (forward and backward), restored afterwards."""
    if case.device != "cuda":
        yield
        return
    conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    saved = conv.fp32_precision, matmul.fp32_precision
    conv.fp32_precision = matmul.fp32_precision = "tf32" if case.precision == "tf32" else "ieee"
    try:
        yield
    finally:
        conv.fp32_precision, matmul.fp32_precision = saved


def autocast(case: Case) -> AbstractContextManager:
    """bf16 autocast for the forward pass of bf16 cases (the backward follows the forward's dtypes)."""
    return torch.autocast(case.device, dtype=torch.bfloat16) if case.precision == "bf16" else nullcontext()


def he_init_(model: nn.Module) -> nn.Module:
    """He-normal convs (BatchNorm keeps its unit statistics): activations stay O(1), no denormals."""
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return model


def build(case: Case, device: str | torch.device | None = None) -> nn.Module:
    """The network for ``case`` in its train/eval mode, on its device and layout; fused/compiled if asked."""
    torch.manual_seed(0)
    device = case.device if device is None else device
    if case.model in STREAMS:
        model: nn.Module = he_init_(InceptionI3d(in_channels=case.in_channels))
        if case.impl == "baseline":
            model = DynamicPadI3d.like(model)
    elif case.model.startswith("resnet"):
        model = he_init_(ResNet3d(INFLATED[case.model], time_kernel=3, block_time_kernel=3))
    else:
        model = he_init_(DenseNet3d(INFLATED[case.model], time_kernel=3, block_time_kernel=3))
    model = model.train(case.task == "train").to(device)
    if case.layout == "channels_last":
        model = model.to(memory_format=CL)
    if case.task == "forward" and case.mode != "eager":
        model = model.fuse()
    if case.mode == "compile":
        return torch.compile(model)
    if case.mode == "cudagraphs":
        return torch.compile(model, mode="reduce-overhead")
    return model


def clip(case: Case) -> torch.Tensor:
    x = torch.rand(case.batch, case.in_channels, case.frames, case.size, case.size, device=case.device) * 2 - 1
    return x.contiguous(memory_format=CL) if case.layout == "channels_last" else x


def step(case: Case, model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """One inference forward, or one SGD training step on a cross-entropy loss; both end synchronised."""
    if case.task == "forward":

        def forward() -> None:
            with torch.inference_mode(), float32_math(case), autocast(case):
                model(x)
            sync(case.device)

        return forward
    labels = torch.randint(0, 400, (case.batch,), device=case.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def train() -> None:
        optimizer.zero_grad(set_to_none=True)
        with float32_math(case):
            with autocast(case):
                loss = F.cross_entropy(model(x), labels)
            loss.backward()
        optimizer.step()
        sync(case.device)

    return train


@cache
def gflop_per_clip(case: Case) -> float:
    """FLOPs of one clip through ``case``'s step (forward, or forward + backward), counted on meta."""
    meta = replace(case, device="meta", batch=1, impl="ours", layout="ncdhw", mode="eager", precision="fp32")
    with torch.device("meta"):
        model = build(meta, "meta")
        x = torch.empty(1, case.in_channels, case.frames, case.size, case.size)
    with FlopCounterMode(display=False) as counter:
        out = model(x)
        if case.task == "train":
            out.sum().backward()
    return counter.get_total_flops() / 1e9


def peak_tflops(case: Case) -> float | None:
    if case.device != "cuda":
        return None
    name = torch.cuda.get_device_name()
    for key, peaks in PEAK_TFLOPS.items():
        if key in name:
            return peaks[PRECISIONS.index(case.precision)]
    return None


def environment(device: str) -> dict[str, str | int | None]:
    """Versions and the machine, recorded with every result so a figure can be traced to its setup."""
    info: dict[str, str | int | None] = {
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "load_avg_1min": f"{os.getloadavg()[0]:.2f}",
        "machine": platform.node(),
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info |= {
            "device_name": props.name,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "gpu_memory_gib": f"{props.total_memory / 2**30:.0f}",
        }
    else:
        info["device_name"] = cpu_name()
    return info


def cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def logits_agreement(case: Case, model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """max |Δ logits| and top-1 agreement of this precision against IEEE fp32 on the same model and clip."""
    reference = replace(case, precision="fp32")
    with torch.inference_mode():
        with float32_math(reference):
            want = model(x).float()
        with float32_math(case), autocast(case):
            got = model(x).float()
    return {
        "logits_max_abs_diff_vs_fp32": (got - want).abs().max().item(),
        "logits_max_abs_fp32": want.abs().max().item(),
        "top1_agreement_vs_fp32": (got.argmax(1) == want.argmax(1)).float().mean().item(),
    }


def record(case: Case, median: float) -> dict:
    """What a median means: the case, the machine, clips/s, TFLOP/s and (on a known GPU) MFU."""
    gflop = gflop_per_clip(case)
    info = asdict(case) | environment(case.device)
    info |= {
        "group": case.group,
        "dtype": "bfloat16 autocast" if case.precision == "bf16" else "float32",
        "memory_format": "channels_last_3d" if case.layout == "channels_last" else "contiguous (NCDHW)",
        "gflop_per_clip": round(gflop, 3),
        "clips_per_s": case.batch / median,
        "tflops": case.batch * gflop / median / 1e3,
    }
    peak = peak_tflops(case)
    if peak is not None:
        info |= {"peak_tflops": peak, "mfu": info["tflops"] / peak}
    return info


def measure(benchmark, case: Case, rounds: tuple[int, int], warmup: int, budget_s: float = 0.0) -> None:
    """Time ``case`` in pytest-benchmark's pedantic mode and record what the figures mean.

    ``warmup`` untimed rounds come first (cuDNN autotuning, compilation, CUDA-graph recording). With
    ``rounds`` as (fewest, most), one extra warm call estimates the step and the rounds fill ``budget_s``.
    """
    benchmark.group = case.group
    if case.device == "cuda":
        torch.backends.cudnn.benchmark = True  # autotuned conv algorithms; the warm-up calls pay for the search
    model = build(case)
    x = clip(case)
    run = step(case, model, x)
    if benchmark.disabled:  # quick mode (--benchmark-disable): one call proves the case still runs
        benchmark.pedantic(run, rounds=1, iterations=1)
        return
    fewest, most = rounds
    if fewest < most:
        run()
        start = time.perf_counter()
        run()
        fewest = max(fewest, min(most, math.ceil(budget_s / max(time.perf_counter() - start, 1e-6))))
    if case.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    benchmark.pedantic(run, rounds=fewest, iterations=1, warmup_rounds=warmup)
    benchmark.extra_info |= record(case, benchmark.stats.stats.median)
    if case.device == "cuda":
        benchmark.extra_info["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    if case.task == "forward" and case.precision != "fp32" and case.mode in ("eager", "fused"):
        benchmark.extra_info |= logits_agreement(case, model, x)


def measure_case(benchmark, case: Case) -> None:
    """``measure`` with the suite's rounds: on CPU 3 after one warm-up; on CUDA 10 to 100 filling about 3 s
    after three warm-ups. A case that runs out of GPU memory is skipped, not failed."""
    try:
        if case.device == "cpu":
            measure(benchmark, case, rounds=(3, 3), warmup=1)
        else:
            measure(benchmark, case, rounds=(10, 100), warmup=3, budget_s=3.0)
    except torch.cuda.OutOfMemoryError:
        pytest.skip(f"{case.id}: out of GPU memory")


def measure_together(benchmark, cases: list[Case], rounds: int, warmup: int) -> None:
    """Time cases doing the same work in alternation, for machines whose load drifts (a shared CPU).

    Each pedantic round runs every case once, the order reversed every other round, so a load change
    hits all of them alike; the speed-up over the baseline is the median of the per-round ratios
    (paired), which cancels drift between rounds that medians taken separately would mix in.
    pytest-benchmark's own figures are for a whole round; each case's median, per-round times and
    speed-up go into ``extra_info["interleaved"]``, which ``make_results.py`` reads as one row per case.
    """
    benchmark.group = f"{cases[0].group} (interleaved)"
    runs = [(case, step(case, build(case), clip(case))) for case in cases]
    times: dict[Case, list[float]] = {case: [] for case in cases}

    def one_round() -> None:
        order = runs if len(times[cases[0]]) % 2 == 0 else runs[::-1]
        for case, run in order:
            start = time.perf_counter()
            run()
            times[case].append(time.perf_counter() - start)

    if benchmark.disabled:
        benchmark.pedantic(one_round, rounds=1, iterations=1)
        return
    benchmark.pedantic(one_round, rounds=rounds, iterations=1, warmup_rounds=warmup)
    timed = {case: values[warmup:] for case, values in times.items()}
    baseline = next((values for case, values in timed.items() if case.impl == "baseline"), None)
    rows = []
    for case, values in timed.items():
        row = record(case, statistics.median(values)) | {"median_s": statistics.median(values), "times_s": values}
        if baseline is not None:
            per_round = [b / t for b, t in zip(baseline, values, strict=True)]
            row |= {"speedup_vs_baseline": statistics.median(per_round), "speedup_per_round": per_round}
        rows.append(row)
    benchmark.extra_info["interleaved"] = rows


def params(cases: list[Case]) -> list:
    """pytest parameters, one per distinct case, CUDA ones skipped where there is no GPU."""
    import pytest

    needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
    return [pytest.param(c, id=c.id, marks=needs_cuda if c.device == "cuda" else ()) for c in dict.fromkeys(cases)]


def quick(config) -> bool:
    """``--benchmark-disable`` (``make test``, CI): a few small cases, each run once, so none can rot."""
    return bool(config.getoption("benchmark_disable"))
