"""``make bench-gpu``'s script, end to end at tiny sizes on the CPU (``--smoke``), so it cannot rot
between the rare runs on a GPU; its figures are not checked (a smoke run's mean nothing)."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow  # ~30 s of CPU (a training step, TV-L1, a features run): `pytest -m slow benchmarks`
def test_smoke_run_writes_every_item(tmp_path, capsys) -> None:
    from benchmarks.gpu_bench import main

    assert main(["--smoke", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "gpu_bench.json").read_text())
    items = {(row["item"], row["impl"], row["precision"]) for row in report["rows"]}
    assert {("i3d forward", impl, mode) for impl in ("eager", "fast") for mode in ("fp32", "bf16")} <= items
    assert {row["item"] for row in report["rows"]} == {
        "i3d forward",
        "training step (SGD)",
        "FVD features",
        "TV-L1 flow",
        "features end to end",
    }
    assert all(row["median_s"] > 0 for row in report["rows"]) and report["smoke"] is True
    table = (tmp_path / "GPU_RESULTS.md").read_text()
    assert table.count("\n| ") == len(report["rows"]) + 1 and "features end to end" in table
