"""``features`` over a dataset: one process vs two torchrun ranks vs two independent jobs on one folder.

The dataset: ``VIDEOS`` generated clips of ``FRAMES`` frames and more (ffv1, 25 fps); the two-stream
(joint) features of random I3D weights, Mixed_5c, 16-frame clips every 8, DIS flow (fast; TV-L1 is the
recipe, but on this CPU it would measure OpenCV alone), one decoding worker per process. Set-ups:

- one process, torch's default threads (one per core), as a user would start it;
- two torchrun ranks, one thread each (torchrun's ``OMP_NUM_THREADS=1``);
- two independent jobs on one folder as on two one-core machines: each pinned to its own core
  (``sched_setaffinity``, inherited by its decoding worker) with ``--threads 1``, against one such job
  alone on one core (what a second machine adds).

They run in alternation, the order reversed every round, each on a fresh output folder; the figures are
the medians over rounds of videos/s and clips/s (wall time of the whole command, process start
included) and the per-stage split (decode, flow, model seconds summed over videos from
``manifest.jsonl``). Quick mode (``--benchmark-disable``): one tiny video through ``extract`` in this
process, once.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from benchmarks.harness import environment
from converter.video import manifest
from tests.video.samples import moving_shapes, write_random_i3d

ROOT = Path(__file__).resolve().parents[1]
VIDEOS, FRAMES = 4, 32  # about 3 minutes a round on a 2-core machine
ARGS = ["--endpoint", "Mixed_5c", "--clip", "16", "--stride", "8", "--flow-method", "dis", "--quiet"]


def write_videos(folder: Path, count: int, frames: int) -> Path:
    import av

    for index in range(count):
        path = folder / f"{index % 2}" / f"{index}.mkv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as container:
            stream = container.add_stream("ffv1", rate=Fraction(25))
            stream.width, stream.height, stream.pix_fmt = 96, 72, "yuv444p"
            for frame in moving_shapes(frames + index):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
    return folder


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def test_dataset_one_process_vs_two_ranks_vs_two_jobs(benchmark, tmp_path, random_state) -> None:
    pytest.importorskip("av")
    weights = [
        write_random_i3d(tmp_path / f"{s}.safetensors", random_state(num_classes=5, in_channels=c), 5, c)
        for s, c in (("rgb", 3), ("flow", 2))
    ]
    if benchmark.disabled:
        import converter
        from converter.video.features import FeatureSettings, extract

        data = write_videos(tmp_path / "data", 1, 9)
        models = {s: converter.load_model(w) for s, w in zip(("rgb", "flow"), weights, strict=True)}
        settings = FeatureSettings("Conv3d_1a_7x7", clip=8, stride=8, flow_method="dis")
        summary = benchmark.pedantic(
            lambda: extract([data], models, "joint", tmp_path / "out", settings, progress=False), rounds=1
        )
        assert [o.status for o in summary.outcomes] == ["done"]
        return

    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("two jobs on their own cores need two cores")
    data = write_videos(tmp_path / "data", VIDEOS, FRAMES)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("WORLD_SIZE", None)
    base = [str(data), *(a for w in weights for a in ("--weights", str(w))), *ARGS, "--workers", "1"]
    cli = [sys.executable, "-m", "converter", "features"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    one_core = [*cli, *base, "--threads", "1"]
    setups = {  # name: (command, core it is pinned to or None) per process started together
        "one process": [([*cli, *base], None)],
        "2 torchrun ranks": [([*torchrun, "-m", "converter", "features", *base], None)],
        "one job on 1 core": [(one_core, cores[0])],
        "2 jobs, 1 core each": [(one_core, cores[0]), (one_core, cores[1])],
    }
    baselines = {"2 jobs, 1 core each": "one job on 1 core"}  # the others against one process
    times: dict[str, list[float]] = {name: [] for name in setups}
    stages: dict[str, list[dict]] = {name: [] for name in setups}
    clips: dict[str, int] = {}
    shares: dict[str, list[list[int]]] = {name: [] for name in setups}

    def start(command: list[str], core: int | None, out: Path) -> subprocess.Popen:
        pin = None if core is None else (lambda: os.sched_setaffinity(0, {core}))
        return subprocess.Popen([*command, "--out", str(out)], env=env, stdout=subprocess.DEVNULL, preexec_fn=pin)

    def one_round() -> None:
        order = list(setups.items())
        for name, processes in order if len(times["one process"]) % 2 == 0 else order[::-1]:
            out = tmp_path / f"out-{len(times[name])}-{name.replace(' ', '-').replace(',', '')}"
            begin = time.perf_counter()
            jobs = [start(command, core, out) for command, core in processes]
            assert all(job.wait(timeout=1800) == 0 for job in jobs)
            times[name].append(time.perf_counter() - begin)
            records = manifest.read(out)
            assert sorted(r["name"] for r in records) == sorted({r["name"] for r in records})  # each video once
            assert len(records) == VIDEOS
            shares[name].append(sorted(Counter(r["pid"] for r in records).values()))  # videos per process
            clips[name] = sum(r["clips"] for r in records)
            stages[name].append({k: sum(r["seconds"][k] for r in records) for k in ("decode", "flow", "model")})

    load_before = load()
    benchmark.group = f"features over {VIDEOS} videos"
    benchmark.pedantic(one_round, rounds=3, iterations=1)
    rows = []
    for name, values in times.items():
        median = statistics.median(values)
        split = {k: statistics.median(s[k] for s in stages[name]) for k in ("decode", "flow", "model")}
        baseline = baselines.get(name, "one process")
        rows.append(
            {
                "setup": name,
                "median_s": median,
                "videos_per_s": VIDEOS / median,
                "clips_per_s": clips[name] / median,
                "baseline": baseline,
                "vs_baseline": statistics.median([t / b for t, b in zip(values, times[baseline], strict=True)]),
                "stage_seconds": split,
                "times_s": values,
                "videos_per_process": shares[name],
            }
        )
    benchmark.extra_info |= environment("cpu") | {"loadavg_before": load_before, "loadavg_after": load(), "rows": rows}
    for row in rows:
        split = ", ".join(f"{k} {v:.1f} s" for k, v in row["stage_seconds"].items())
        print(
            f"{row['setup']:>19}: {row['median_s']:.1f} s, {row['videos_per_s']:.3f} videos/s, "
            f"{row['clips_per_s']:.2f} clips/s, time {row['vs_baseline']:.2f}x {row['baseline']}'s; stages {split}; "
            f"videos per process {row['videos_per_process']}"
        )
    print(f"load {load_before} -> {load()}")
