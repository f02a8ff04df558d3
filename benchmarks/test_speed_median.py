"""TV-L1's 5x5 median (``converter.video.tvl1.median5``): the CPU path (OpenCV's ``medianBlur`` image by
image) against the min/max network it replaced on CPU (still the path on other devices), on one
[1, 2, 256, 340] flow, one thread, interleaved with the order reversed each round. ``--benchmark-disable``
runs one round at a small size and checks the two agree."""

from __future__ import annotations

import statistics
import time

import torch


def test_median5_cpu_vs_network(benchmark) -> None:
    from converter.video.tvl1 import median5, median5_network

    shape = (1, 2, 24, 34) if benchmark.disabled else (1, 2, 256, 340)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0)) * 3
    runs = {"median5 (cpu: cv2.medianBlur)": median5, "median5_network (before)": median5_network}
    times: dict[str, list[float]] = {name: [] for name in runs}
    before = torch.get_num_threads()
    torch.set_num_threads(1)

    def one_round() -> None:
        order = list(runs) if len(times[next(iter(runs))]) % 2 == 0 else list(runs)[::-1]
        for name in order:
            start = time.perf_counter()
            runs[name](x)
            times[name].append(time.perf_counter() - start)

    try:
        benchmark.group = "tvl1 median 5x5"
        benchmark.pedantic(one_round, rounds=1 if benchmark.disabled else 20, iterations=1)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(median5(x), median5_network(x))
    fast, slow = times.values()
    benchmark.extra_info["median"] = {
        "shape": list(shape),
        "median_ms": {name: 1e3 * statistics.median(values) for name, values in times.items()},
        "speedup": statistics.median(s / f for f, s in zip(fast, slow, strict=True)),
    }
    if not benchmark.disabled:
        print(benchmark.extra_info["median"])
