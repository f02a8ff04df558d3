"""RESULTS.md from pytest-benchmark's JSON: the machine, versions, medians, speed-ups and the issue's targets.

``python benchmarks/make_results.py benchmarks/results.json > benchmarks/RESULTS.md`` (``make bench`` runs
it); a second JSON, from a later ``pytest benchmarks/test_speed_conversion.py`` run, replaces the
conversion section's figures and names its own run.
Standard library only. Every figure is a median over the recorded rounds; "vs baseline" is the
dynamic-pad baseline's median time divided by the row's, measured in the same run on the same device.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

CPU_TARGET = 0.9  # ours' forward time / baseline's, CPU, 16x224²
GPU_TARGETS = {"bf16_inference": 900.0, "bf16_train": 300.0, "bf16_b16": 2.0, "fp32_b16": 1.3, "b1_latency": 2.0}


def load(path: Path) -> tuple[dict, list[dict]]:
    """Machine info and one row per timed case (a --benchmark-disable run records none)."""
    data = json.loads(path.read_text())
    rows = []
    for bench in data["benchmarks"]:
        info = bench.get("extra_info") or {}
        if "model" in info:
            rows.append({**info, "group": bench["group"], "median": bench["stats"]["median"]})
        for case in info.get("interleaved", []):  # measure_together: one row per alternating case
            rows.append({**case, "median": case["median_s"], "interleaved": True})
    return data, rows


def variant(row: dict) -> str:
    extras = [e for e in (row["layout"] if row["layout"] != "ncdhw" else "", row["mode"]) if e and e != "eager"]
    return "-".join([row["impl"], *extras])


def speedups(rows: list[dict]) -> dict[int, float]:
    """id(row) -> the baseline's time over the row's within its group: the median of the per-round ratios
    for cases timed in alternation, else the ratio of the medians."""
    baseline = {r["group"]: r["median"] for r in rows if r.get("impl") == "baseline"}
    paired = {id(r): r["speedup_vs_baseline"] for r in rows if "speedup_vs_baseline" in r}
    return {
        id(r): paired.get(id(r), baseline.get(r["group"], 0.0) / r["median"]) for r in rows if r["group"] in baseline
    }


def fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def machine_lines(data: dict, rows: list[dict]) -> list[str]:
    machine = data["machine_info"]
    env = machine.get("torch_env", {})
    commit = data.get("commit_info", {})
    cpu = machine.get("cpu", {})
    lines = [
        f"- Run: {data.get('datetime', '?')}, commit {str(commit.get('id', '?'))[:10]}"
        + (" (uncommitted changes)" if commit.get("dirty") else ""),
        f"- CPU: {cpu.get('brand_raw', '?')}, {cpu.get('count', '?')} cores, torch {env.get('torch', '?')} "
        f"with {env.get('cpu_threads', '?')} threads",
        f"- Load average (1 min) at start / end: {machine.get('load_avg_1min_at_start', '?')} / "
        f"{machine.get('load_avg_1min_at_end', '?')} — on a shared machine the CPU figures are only as steady as that",
    ]
    gpus = sorted({(r["device_name"], r.get("cudnn"), r.get("cuda")) for r in rows if r.get("device") == "cuda"})
    for name, cudnn, cuda in gpus:
        lines.append(f"- GPU: {name}, CUDA {cuda}, cuDNN {cudnn}")
        if cudnn is not None and int(cudnn) < 91500:
            lines.append(
                "  - cuDNN < 9.15: PyTorch routes some bf16/fp16 3D convs in the default (NCDHW) layout away from "
                "cuDNN, which slows the baseline; check the profile (`python -m benchmarks.profile_i3d`) before "
                "quoting a bf16 NCDHW ratio"
            )
    if not gpus:
        lines.append("- GPU: none in this run — every CUDA figure and GPU target below is unmeasured")
    return lines


def best(rows: Iterable[dict], **where: object) -> dict | None:
    """The fastest of our rows (most clips/s) matching ``where``."""
    matching = [r for r in rows if r.get("impl") == "ours" and all(r.get(k) == v for k, v in where.items())]
    return max(matching, key=lambda r: r["clips_per_s"], default=None)


def target_lines(rows: list[dict], ratio: dict[int, float]) -> list[str]:
    lines = ["| target | measured | status |", "|---|---|---|"]

    def add(name: str, value: float | None, text: str, ok: Callable[[float], bool]) -> None:
        status = "not measured" if value is None else ("met" if ok(value) else "**missed**")
        lines.append(f"| {name} | {text if value is not None else '–'} | {status} |")

    for model in ("i3d-rgb", "i3d-flow"):
        cpu = {r["impl"] + r["mode"]: r for r in rows if r["group"] == f"{model} forward cpu fp32 b1 16x224²"}
        ours, fused = cpu.get("ourseager"), cpu.get("oursfused")
        value = 1 / ratio[id(ours)] if ours and id(ours) in ratio else None
        extra = f"; fused {1 / ratio[id(fused)]:.2f}x" if fused and id(fused) in ratio else ""
        text = f"{value:.2f}x the baseline's time{extra}" if value is not None else ""
        add(f"CPU {model} forward 16x224² ≤ {CPU_TARGET}x baseline time", value, text, lambda v: v <= CPU_TARGET)

    gpu = [r for r in rows if r.get("device") == "cuda" and r["model"] == "i3d-rgb" and r["frames"] == 64]
    name = gpu[0]["device_name"] if gpu else "GPU"
    for task, key in (("forward", "bf16_inference"), ("train", "bf16_train")):
        row = best(gpu, task=task, precision="bf16")
        text = (
            f"{row['clips_per_s']:.0f} clips/s ({variant(row)}, batch {row['batch']}, "
            f"MFU {fmt(row.get('mfu'), '.1%')}, {name})"
            if row
            else ""
        )
        label = "inference" if task == "forward" else "training step"
        add(f"bf16 {label} ≥ {GPU_TARGETS[key]:.0f} clips/s, 64x224²", row and row["clips_per_s"], text,
            lambda v, k=key: v >= GPU_TARGETS[k])  # fmt: skip
    for label, key, where in (
        ("vs baseline, bf16 batch 16", "bf16_b16", {"precision": "bf16", "batch": 16}),
        ("vs baseline, fp32 batch 16", "fp32_b16", {"precision": "fp32", "batch": 16}),
        ("vs baseline, bf16 batch-1 latency", "b1_latency", {"precision": "bf16", "batch": 1}),
    ):
        row = best(gpu, task="forward", **where)
        value = ratio.get(id(row)) if row else None
        text = f"{value:.2f}x ({variant(row)}, {name})" if value is not None else ""
        add(f"{label} ≥ {GPU_TARGETS[key]}x", value, text, lambda v, k=key: v >= GPU_TARGETS[k])
    return lines


def i3d_tables(rows: list[dict], ratio: dict[int, float]) -> list[str]:
    lines: list[str] = []
    i3d = [r for r in rows if r["model"].startswith("i3d")]
    for (device, task), group in sorted(_by(i3d, "device", "task").items()):
        where = group[0]["device_name"]
        lines += [f"### I3D {task}, {device} ({where})", ""]
        lines.append("| model | clip | precision | batch | variant | median ms | clips/s | TFLOP/s | MFU | peak GiB "
                     "| vs baseline | Δ logits vs fp32 (top-1 agree) |")  # fmt: skip
        lines.append("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
        for r in group:
            delta = r.get("logits_max_abs_diff_vs_fp32")
            accuracy = (
                f"{delta:.3g} of {r['logits_max_abs_fp32']:.3g} ({r['top1_agreement_vs_fp32']:.0%})" if delta else ""
            )
            lines.append(
                f"| {r['model']} | {r['frames']}x{r['size']}² | {r['precision']} | {r['batch']} "
                f"| {variant(r)}{' †' if r.get('interleaved') else ''} "
                f"| {r['median'] * 1e3:.1f} | {r['clips_per_s']:.2f} | {r['tflops']:.2f} | {fmt(r.get('mfu'), '.1%')} "
                f"| {fmt(r.get('peak_memory_gib'), '.1f')} | {fmt(ratio.get(id(r)), '.2f')} | {accuracy} |"
            )
        if any(r.get("interleaved") for r in group):
            lines += ["", "† timed in alternation with the other † rows of its clip and batch, the order reversed "
                          "every round, so a drifting machine load hits them alike."]  # fmt: skip
        lines.append("")
    return lines


def inflated_tables(rows: list[dict]) -> list[str]:
    lines: list[str] = []
    nets = [r for r in rows if not r["model"].startswith("i3d")]
    for device, group in sorted(_by(nets, "device").items()):
        columns = sorted({(r["task"], r["batch"]) for r in group})
        clip = f"{group[0]['frames']}x{group[0]['size']}²"
        lines += [f"### Inflated networks, {device} ({group[0]['device_name']}), {clip}, fp32, seconds per step", ""]
        lines.append("| network | " + " | ".join(f"{task} batch {batch}" for task, batch in columns) + " |")
        lines.append("|---|" + "---:|" * len(columns))
        for model, mine in _by(group, "model").items():
            cells = {(r["task"], r["batch"]): r["median"] for r in mine}
            lines.append(f"| {model} | " + " | ".join(fmt(cells.get(c), ".3f") for c in columns) + " |")
        lines.append("")
    return lines


def conversion_lines(data: dict) -> list[str]:
    runs = {
        b["param"]: b for b in data["benchmarks"] if b["group"] == "conversion (whole process)" and b.get("extra_info")
    }
    if not runs:
        return ["Not run."]
    commit = data.get("commit_info", {})
    where = (f"Run {data.get('datetime', '?')}, commit {str(commit.get('id', '?'))[:10]}"
             + (" (uncommitted changes)" if commit.get("dirty") else "")
             + f", load average at start {data['machine_info'].get('load_avg_1min_at_start', '?')}.")  # fmt: skip

    def seconds(b: dict) -> float:  # the process alone where recorded, else the benchmark's (with its launcher)
        return b["extra_info"].get("median_s", b["stats"]["median"])

    lines = [where, "", "| command | source | median s | peak RSS MiB |", "|---|---|---:|---:|"]
    for name, b in runs.items():
        lines.append(f"| {name} | {b['extra_info']['source']} | {seconds(b):.2f} "
                     f"| {b['extra_info']['peak_rss_mib']:.0f} |")  # fmt: skip
    pure, tf = runs.get("pure-tf-checkpoint"), runs.get("tensorflow-tf-checkpoint")
    if pure and tf:
        time_ratio = seconds(tf) / seconds(pure)
        rss_ratio = tf["extra_info"]["peak_rss_mib"] / pure["extra_info"]["peak_rss_mib"]
        lines += ["", f"TensorFlow's reader / our pure reader on the same checkpoint (same output bytes): "
                      f"**{time_ratio:.1f}x the wall time, {rss_ratio:.1f}x the peak memory**."]  # fmt: skip
    return lines


def fvd_lines(data: dict) -> list[str]:
    rows = [row for b in data["benchmarks"] for row in (b.get("extra_info") or {}).get("fvd", [])]
    if not rows:
        return ["Not run."]
    lines = [f"Load average at start {data['machine_info'].get('load_avg_1min_at_start', '?')}.", "",
             "| pipeline | device | videos × frames × H × W | precision | median s | videos/s | vs TensorFlow |",
             "|---|---|---|---|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        ratio = fmt(r.get("speedup_vs_tensorflow"), ".2f") + "x" if "speedup_vs_tensorflow" in r else "—"
        lines.append(f"| {r['pipeline']} | {r['device']} ({r['device_name']}) | {r['work']} | {r['precision']} "
                     f"| {r['median_s']:.2f} | {r['videos_per_s']:.2f} | {ratio} |")  # fmt: skip
    return [
        *lines,
        "",
        "TensorFlow: `tf.compat.v1.image.resize_bilinear` + DeepMind's TF-Hub graph (CPU build); "
        "ours: `converter.fvd.i3d_features`; the same uint8 videos, batches of 16, features equal to 1e-4.",
    ]


def _by(rows: list[dict], *keys: str) -> dict:
    grouped: dict = defaultdict(list)
    for r in rows:
        grouped[r[keys[0]] if len(keys) == 1 else tuple(r[k] for k in keys)].append(r)
    return grouped


def render(path: Path, conversion: Path | None = None, fvd: Path | None = None) -> str:
    data, rows = load(path)
    ratio = speedups(rows)
    sections = [
        ["# Benchmark results", "",
         f"Generated by `benchmarks/make_results.py` from `{path.name}` (pytest-benchmark "
         f"{data.get('version', '?')}); regenerate with `make bench`. Medians; \"vs baseline\" is the "
         "dynamic-pad baseline's time over the row's, same run, device, precision and batch.", ""],
        ["## Machine", "", *machine_lines(data, rows), ""],
        ["## Targets", "", *target_lines(rows, ratio), ""],
        ["## I3D", "", *i3d_tables(rows, ratio)],
        ["## Inflated ResNet and DenseNet (the original inflation tool's table)", "", *inflated_tables(rows)],
        ["## Conversion (whole process)", "", *conversion_lines(load(conversion)[0] if conversion else data), ""],
        ["## FVD features (videos/s)", "", *fvd_lines(load(fvd)[0] if fvd else data), ""],
    ]  # fmt: skip
    return "\n".join(line for section in sections for line in section)


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2, 3):
        print("usage: make_results.py RESULTS_JSON [CONVERSION_JSON [FVD_JSON]] > RESULTS.md", file=sys.stderr)
        return 2
    sys.stdout.write(render(*map(Path, argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
