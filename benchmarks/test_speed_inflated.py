"""The original inflation tool's forward-time table, for our inflated ResNet-50/101/152 and DenseNet-121/161/169/201.

Batch 1 and 2 like the original (which timed the forward pass on a GTX TITAN Black). Networks are
inflated I3D-style: 3x3 convs become 3x3x3 (``block_time_kernel=3``), the stem gets a time kernel of 3.
CUDA runs use 16x224² clips, fp32, forward and SGD training step; CPU runs only the forward on 8x112²
clips, which keeps the table to minutes on a 2-core machine.
"""

from __future__ import annotations

import pytest

from benchmarks.harness import INFLATED, Case, measure_case, params, quick

CPU_CLIP = (8, 112)
CUDA_CLIP = (16, 224)


def table(device: str, frames: int, size: int, tasks: tuple[str, ...]) -> list[Case]:
    return [Case(model, task, device, batch, frames, size) for model in INFLATED for task in tasks for batch in (1, 2)]


def quick_cases() -> list[Case]:
    cases = [Case("resnet50", "forward", "cpu", 1, 4, 64), Case("densenet121", "forward", "cpu", 2, 4, 64)]
    return cases + [Case(c.model, c.task, "cuda", c.batch, c.frames, c.size) for c in cases]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        full = table("cpu", *CPU_CLIP, ("forward",)) + table("cuda", *CUDA_CLIP, ("forward", "train"))
        cases = quick_cases() if quick(metafunc.config) else full
        metafunc.parametrize("case", params(cases))


def test_inflated(benchmark, case: Case) -> None:
    measure_case(benchmark, case)
