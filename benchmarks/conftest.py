"""Benchmark-wide records: versions, device and the machine's load go into pytest-benchmark's JSON."""

from __future__ import annotations

import os

from benchmarks.harness import CUDA, environment

LOAD_AT_START = os.getloadavg()[0]


def pytest_benchmark_update_machine_info(config, machine_info: dict) -> None:
    machine_info["torch_env"] = environment("cuda" if CUDA else "cpu")


def pytest_benchmark_update_json(config, benchmarks, output_json: dict) -> None:
    output_json["machine_info"]["load_avg_1min_at_start"] = f"{LOAD_AT_START:.2f}"
    output_json["machine_info"]["load_avg_1min_at_end"] = f"{os.getloadavg()[0]:.2f}"
