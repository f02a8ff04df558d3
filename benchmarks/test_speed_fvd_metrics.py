"""The cost of ``--metrics fvd,kvd,precision,recall`` over FVD alone, from features (no I3D): 2048 random
400-d vectors a side (StyleGAN-V's count), both timed in alternation (a shared CPU's load drifts).
``--benchmark-disable`` (CI) runs one round on 64 vectors so the benchmark cannot rot."""

from __future__ import annotations

import statistics
import time

import numpy as np

from converter.fvd.metrics import METRICS, MetricOptions, evaluate
from converter.fvd.protocols import get_protocol

N, QUICK_N, D = 2048, 64, 400


def test_metrics_over_fvd_alone(benchmark) -> None:
    n = QUICK_N if benchmark.disabled else N
    rng = np.random.default_rng(0)
    real = rng.normal(size=(n, D)).astype(np.float32)
    fake = rng.normal(0.1, 1.1, size=(n, D)).astype(np.float32)
    protocol = get_protocol("fvd2048_16f")
    runs = {"fvd": ("fvd",), "all": METRICS}
    times: dict[str, list[float]] = {name: [] for name in runs}

    def one_round() -> None:
        for name, metrics in runs.items() if len(times["fvd"]) % 2 == 0 else list(runs.items())[::-1]:
            start = time.perf_counter()
            found = evaluate(real, fake, protocol, metrics, MetricOptions())
            times[name].append(time.perf_counter() - start)
            assert set(metrics) <= set(found.values)

    benchmark.group = "fvd metrics (interleaved)"
    benchmark.pedantic(one_round, rounds=1 if benchmark.disabled else 3, iterations=1)
    fvd, every = statistics.median(times["fvd"]), statistics.median(times["all"])
    benchmark.extra_info["fvd_metrics"] = {"n": n, "fvd_s": fvd, "all_s": every, "extra_s": every - fvd}
    assert every > 0 and fvd > 0
