"""TV-L1 optical flow: OpenCV's (the I3D recipe) beside ours in PyTorch, per frame pair, in one run.

CPU: the same four 256x340 pairs (a global shift, two smooth fields, a moving object) go through
OpenCV (its own thread pool), ours one pair at a time and ours as one batch of four (one torch thread:
see ``converter.video.flow._one_cpu_thread``), and with ``TVL1_BENCH_TWO_THREADS=1`` ours with two torch
threads (slow: minutes on a loaded machine); the implementations
are timed in alternation, the order reversed every round, and each one's ratio to OpenCV is the median
of the per-round ratios (the machine is shared and its load drifts). CUDA (skipped without a GPU):
batches of 64 and 128 such pairs at 256x340, pairs/s. Quick mode (``--benchmark-disable``) runs each
case once on 48x64 pairs.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import pytest
import torch

from benchmarks.harness import environment
from tests.video import flow_pairs

cv2 = pytest.importorskip("cv2")

from converter.video.tvl1 import TVL1Params, tvl1  # noqa: E402

PARAMS = TVL1Params.like_opencv(cv2.__version__)
SIZE = (256, 340)
QUICK_SIZE = (48, 64)


def pairs(count: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` trackable uint8 pairs, cycling through the synthetic cases with different seeds."""
    makers = [
        lambda s: flow_pairs.global_shift(height, width, dx=3, dy=-2, seed=s),
        lambda s: flow_pairs.smooth_field(height, width, seed=s),
        lambda s: flow_pairs.moving_object(height, width, seed=s),
        lambda s: flow_pairs.smooth_field(height, width, amplitude=1.5, seed=s),
    ]
    made = [makers[i % len(makers)](i) for i in range(count)]
    return np.stack([m[0] for m in made]), np.stack([m[1] for m in made])


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def with_threads(threads: int, run: Callable[[], object]) -> Callable[[], None]:
    def call() -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            run()
        finally:
            torch.set_num_threads(before)

    return call


def test_tvl1_cpu_beside_opencv(benchmark) -> None:
    size = QUICK_SIZE if benchmark.disabled else SIZE
    a, b = pairs(4, *size)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    solver = cv2.optflow.DualTVL1OpticalFlow_create()
    impls: dict[str, Callable[[], None]] = {
        "opencv": lambda: [solver.calc(x, y, None) for x, y in zip(a, b, strict=True)],
        "torch-b1-1thread": with_threads(1, lambda: [tvl1(ta[i : i + 1], tb[i : i + 1], PARAMS) for i in range(4)]),
        "torch-b4-1thread": with_threads(1, lambda: tvl1(ta, tb, PARAMS)),
    }
    if os.environ.get("TVL1_BENCH_TWO_THREADS"):  # about 10x OpenCV's time on a loaded 2-core machine
        impls["torch-b1-2threads"] = with_threads(
            2, lambda: [tvl1(ta[i : i + 1], tb[i : i + 1], PARAMS) for i in range(4)]
        )
    times: dict[str, list[float]] = {name: [] for name in impls}
    benchmark.group = f"tvl1 cpu {size[0]}x{size[1]} (4 pairs, interleaved)"

    def one_round() -> None:
        order = list(impls.items())
        for name, run in order if len(times["opencv"]) % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)

    load_before = load()
    if benchmark.disabled:
        benchmark.pedantic(one_round, rounds=1, iterations=1)
        assert all(len(t) == 1 for t in times.values())
        return
    benchmark.pedantic(one_round, rounds=3, iterations=1, warmup_rounds=1)
    timed = {name: values[1:] for name, values in times.items()}
    rows = []
    for name, values in timed.items():
        ratios = [t / o for t, o in zip(values, timed["opencv"], strict=True)]
        rows.append(
            {
                "impl": name,
                "median_s_per_pair": statistics.median(values) / 4,
                "pairs_per_s": 4 / statistics.median(values),
                "time_vs_opencv": statistics.median(ratios),
                "time_vs_opencv_per_round": ratios,
                "times_s": values,
            }
        )
    benchmark.extra_info |= environment("cpu") | {
        "size": f"{size[0]}x{size[1]}",
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
        "loadavg_before": load_before,
        "loadavg_after": load(),
        "interleaved": rows,
    }
    for row in rows:
        print(
            f"{row['impl']:>18}: {row['median_s_per_pair']:.3f} s/pair, "
            f"{row['time_vs_opencv']:.2f}x OpenCV's time (load {load_before} -> {load()})"
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("batch", [64, 128])
def test_tvl1_cuda_pairs_per_second(benchmark, batch: int) -> None:
    size = QUICK_SIZE if benchmark.disabled else SIZE
    a, b = pairs(batch, *size)
    ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()

    def run() -> None:
        tvl1(ta, tb, PARAMS)
        torch.cuda.synchronize()

    benchmark.group = f"tvl1 cuda {size[0]}x{size[1]}"
    if benchmark.disabled:
        benchmark.pedantic(run, rounds=1, iterations=1)
        return
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info |= environment("cuda") | {
        "size": f"{size[0]}x{size[1]}",
        "batch": batch,
        "pairs_per_s": batch / median,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
    }
    print(f"cuda batch {batch}: {batch / median:.1f} pairs/s ({torch.cuda.get_device_name()})")
