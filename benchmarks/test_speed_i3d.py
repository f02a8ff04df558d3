"""I3D forward and SGD training-step speed, ours beside the dynamic-pad baseline on the same work.

CPU: 16x224² clips, batch 1, fp32 (the CPU target is ours <= 0.9x the baseline's forward time), and
bf16 autocast in channels_last_3d beside fp32 (``--precision bf16``), the implementations timed in
alternation (``measure_together``) because a shared CPU's load drifts.
CUDA: 64x224² at batch 1/8/16/32 in fp32, TF32 and bf16 autocast, NCDHW and channels_last_3d, BN-folded
(``fuse()``), ``torch.compile`` and CUDA graphs; clip length 16/32/64 for RGB and flow. Each
``group`` in the output holds one piece of work done by every implementation, so pytest-benchmark's
relative column reads as the speed-up. ``make_results.py`` turns the JSON into RESULTS.md.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from benchmarks.harness import PRECISIONS, STREAMS, Case, measure_case, measure_together, params, quick

CL = "channels_last"
CPU_CLIP = (16, 224)
CUDA_CLIP = (64, 224)


def cpu_groups() -> list[list[Case]]:
    groups = []
    for model in STREAMS:
        forward = Case(model, "forward", "cpu", 1, *CPU_CLIP)
        train = replace(forward, task="train")
        groups.append([replace(forward, impl="baseline"), forward, replace(forward, mode="fused")])
        groups.append([replace(train, impl="baseline"), train])
    # --precision bf16 on CPU: autocast + channels_last_3d (oneDNN's AMX kernels where the CPU has them),
    # timed in alternation with the fp32 forward on the same clip.
    fp32 = Case("i3d-rgb", "forward", "cpu", 1, *CPU_CLIP)
    groups.append([fp32, replace(fp32, precision="bf16", layout=CL)])
    return groups


def cuda_cases() -> list[Case]:
    cases = []
    for precision in PRECISIONS:
        for batch in (1, 8, 16, 32):
            forward = Case("i3d-rgb", "forward", "cuda", batch, *CUDA_CLIP, precision=precision)
            cases += [replace(forward, impl="baseline"), forward, replace(forward, layout=CL)]
            cases.append(replace(forward, layout=CL, mode="fused"))
            if precision == "bf16":
                cases.append(replace(forward, layout=CL, mode="compile"))
                if batch == 1:
                    cases.append(replace(forward, layout=CL, mode="cudagraphs"))
    for precision in ("fp32", "bf16"):
        for batch in (8, 16, 32):
            train = Case("i3d-rgb", "train", "cuda", batch, *CUDA_CLIP, precision=precision)
            cases += [replace(train, impl="baseline"), train, replace(train, layout=CL)]
            if precision == "bf16":
                cases.append(replace(train, layout=CL, mode="compile"))
    for model in STREAMS:
        for frames in (16, 32, 64):
            forward = Case(model, "forward", "cuda", 8, frames, 224, precision="bf16")
            train = replace(forward, task="train")
            cases += [replace(forward, impl="baseline"), replace(forward, layout=CL, mode="fused")]
            cases += [replace(train, impl="baseline"), replace(train, layout=CL)]
    return cases


# Quick mode: the smallest clip Logits accepts (9x193²), one of each kind of step.
SMALL = Case("i3d-rgb", "forward", "cpu", 1, 9, 193)
QUICK_GROUPS = [[replace(SMALL, impl="baseline"), replace(SMALL, mode="fused")]]


def quick_cases() -> list[Case]:
    cases = [replace(SMALL, model="i3d-flow", task="train"), replace(SMALL, device="cuda", impl="baseline")]
    return cases + [replace(SMALL, device="cuda", layout=CL, mode=m, precision="bf16") for m in ("eager", "fused")]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", params(quick_cases() if quick(metafunc.config) else cuda_cases()))
    if "cases" in metafunc.fixturenames:
        groups = QUICK_GROUPS if quick(metafunc.config) else cpu_groups()
        metafunc.parametrize("cases", groups, ids=[g[0].work for g in groups])


def test_i3d_cpu(benchmark, cases: list[Case]) -> None:
    measure_together(benchmark, cases, rounds=5, warmup=1)


def test_i3d(benchmark, case: Case) -> None:
    measure_case(benchmark, case)
