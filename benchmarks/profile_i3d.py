"""Where an I3D step spends its time: torch.profiler totals by kind of work, ours beside the baseline.

``python -m benchmarks.profile_i3d [--device cuda --precision bf16 --layout channels_last --batch 16 ...]``
prints a Markdown table (convolutions, pooling, BatchNorm, layout copies and padding, concatenation,
element-wise, other) and the number of ops or kernel launches, so a missed target comes with the
breakdown that explains it. On CUDA the kinds are read off the GPU kernel names, which also shows
whether cuDNN ran the 3D convs or PyTorch fell back to its own (``vol2col``/``slow_conv``) kernels.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import replace

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.harness import Case, build, clip, environment, step

# (kind, substrings of an aten op or kernel name), first match wins; matched in lower case. The fallback
# kind only applies to GPU kernels: on CPU, slow_conv3d is PyTorch's ordinary path for some convs.
FALLBACK = "convolution (GPU fallback, not cuDNN)"
KINDS = (
    (FALLBACK, ("vol2col", "im2col", "slow_conv")),
    ("convolution", ("conv", "gemm", "sm90_", "sm80_", "cutlass", "winograd", "implicit", "mkldnn")),
    ("max/avg pooling", ("pool",)),
    ("BatchNorm", ("batch_norm", "batchnorm", "bn_")),
    ("concatenation", ("cat",)),  # before copies: CUDA's cat kernel is CatArrayBatchedCopy
    (
        "padding and layout copies",
        ("pad", "fill", "copy", "clone", "contiguous", "nchwtonhwc", "nhwctonchw", "transpose"),
    ),
    ("ReLU and other element-wise", ("relu", "clamp", "threshold", "elementwise", "add", "mul")),
)


def kind(name: str, device: str) -> str:
    lowered = name.lower()
    kinds = KINDS if device == "cuda" else KINDS[1:]
    return next((label for label, keys in kinds if any(k in lowered for k in keys)), "other")


def breakdown(case: Case, runs: int = 3) -> tuple[dict[str, float], int, float]:
    """(milliseconds per kind, ops or kernels per step, total milliseconds per step) over ``runs`` steps."""
    model = build(case)
    run = step(case, model, clip(case))
    run()
    run()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if case.device == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(runs):
            run()
    times: Counter[str] = Counter()
    count = 0
    for event in prof.key_averages():
        if case.device == "cuda":
            self_us, on_device = event.self_device_time_total, event.device_type == torch.autograd.DeviceType.CUDA
        else:
            self_us, on_device = event.self_cpu_time_total, event.key.startswith("aten::")
        if on_device and self_us > 0:
            times[kind(event.key, case.device)] += self_us / 1e3 / runs
            count += event.count
    return dict(times), count // runs, sum(times.values())


def report(cases: list[Case]) -> str:
    results = {c.variant: breakdown(c) for c in cases}
    kinds = [label for label, _ in KINDS] + ["other"]
    head = cases[0]
    env = environment(head.device)
    lines = [
        f"### {head.model} {head.task}, {head.device} ({env['device_name']}), {head.precision}, "
        f"batch {head.batch}, {head.frames}x{head.size}²",
        "",
        f"torch {env['torch']}, {env['cpu_threads']} CPU threads, load average {env['load_avg_1min']}"
        + (f", cuDNN {env['cudnn']}" if head.device == "cuda" else ""),
        "",
        "| kind | " + " | ".join(f"{v} (ms)" for v in results) + " |",
        "|---|" + "---:|" * len(results),
    ]
    for label in kinds:
        if any(label in times for times, _, _ in results.values()):
            cells = [f"{times.get(label, 0.0):.1f}" for times, _, _ in results.values()]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| **total (profiled)** | " + " | ".join(f"**{t:.1f}**" for _, _, t in results.values()) + " |")
    what = "kernel launches" if head.device == "cuda" else "aten ops"
    lines.append(f"| {what} per step | " + " | ".join(str(n) for _, n, _ in results.values()) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="i3d-rgb", choices=["i3d-rgb", "i3d-flow"])
    parser.add_argument("--task", default="forward", choices=["forward", "train"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"])
    parser.add_argument("--layout", default="ncdhw", choices=["ncdhw", "channels_last"])
    parser.add_argument("--mode", default="eager", choices=["eager", "fused"], help="our variant's mode")
    args = parser.parse_args()
    ours = Case(
        args.model, args.task, args.device, args.batch, args.frames, args.size,
        precision=args.precision, layout=args.layout, mode=args.mode,
    )  # fmt: skip
    print(f"Generated by `python -m benchmarks.profile_i3d {' '.join(sys.argv[1:])}`.\n")
    print(report([replace(ours, impl="baseline", layout="ncdhw", mode="eager"), ours]))


if __name__ == "__main__":
    main()
