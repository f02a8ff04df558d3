"""One process timing the fast path against TensorFlow and ONNX Runtime at one thread count:
``python -m benchmarks.fast_path_worker --threads N --hub DIR --weights FILE [--rounds R]`` prints JSON.

A process per thread count because TensorFlow fixes its thread pools when it starts. Inside it, every
implementation runs the same input in turn, the order reversed each round, after a warm-up; the figure
that counts is the median over rounds of TF's time over ours in that round (a shared machine's load
drifts between rounds, much less within one). Implementations:

- ``ours``: the default path (``converter.fast``: OpenVINO on our verified ONNX export), its first-run
  (export + check) cost timed in a fresh ``$I3D_CONVERTER_HOME`` unless ``--home`` is given;
- ``eager``: ``--backend eager``, PyTorch;
- ``onnxruntime``: ONNX Runtime on the same ONNX file;
- ``tensorflow``: DeepMind's TF-Hub graph (``../shared/tfhub-i3d-kinetics-400``), fed NDHWC.

(a) one 16x224² clip, batch 1, logits; (b) the FVD pipeline (TF1 resize, 2x/255-1, logits) in videos/s
on the same uint8 videos (``--fvd-videos`` of 16x64², batch 16): ours ``i3d_features``, TF's recipe
(``tests/fvd/tf_pipeline.embed``), ONNX Runtime behind our resize.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable


def interleave(runs: dict[str, Callable[[], object]], rounds: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per round of each run, in turn, the order reversed every other round (after ``warmup``)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(warmup + rounds):
        order = list(runs) if r % 2 == 0 else list(runs)[::-1]
        for name in order:
            start = time.perf_counter()
            runs[name]()
            if r >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def summary(times: dict[str, list[float]], reference: str = "tensorflow") -> dict[str, dict[str, float]]:
    """Median seconds of each run and the median over rounds of ``reference``'s time over its own (> 1:
    faster than the reference)."""
    return {
        name: {
            "median_s": statistics.median(values),
            "speed_vs_tf": statistics.median(r / v for r, v in zip(times[reference], values, strict=True)),
        }
        for name, values in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--hub", required=True, help="an assembled TF-Hub I3D module folder")
    p.add_argument("--weights", required=True)
    p.add_argument("--home", help="$I3D_CONVERTER_HOME to use (default: a fresh one, timing the first run)")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--fvd-videos", type=int, default=4)
    p.add_argument("--fvd-rounds", type=int, default=6)
    args = p.parse_args(argv)
    os.environ["I3D_CONVERTER_HOME"] = args.home or tempfile.mkdtemp(prefix="i3d-home-")
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import onnxruntime as ort
    import tensorflow_hub as hub

    from converter.api import load_model
    from converter.fast import FastI3D, accelerate
    from converter.fvd import i3d_features
    from tests.fvd.tf_pipeline import embed

    eager = load_model(args.weights)
    ours = accelerate(eager, "fast", log=lambda line: print(line, file=sys.stderr))
    assert isinstance(ours, FastI3D)
    clip = torch.rand(1, 3, 16, 224, 224, generator=torch.Generator().manual_seed(0)) * 2 - 1
    start = time.perf_counter()
    with torch.no_grad():
        ours(clip)
    first_run_s = time.perf_counter() - start

    from converter.fast.artifacts import cache_name, fast_dir

    onnx_path = fast_dir() / cache_name(ours._sha256, "Logits")
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = args.threads, 1, 3
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def onnxruntime(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"x": x.numpy()})[0])

    signature = hub.load(args.hub).signatures["default"]
    clip_tf = tf.constant(clip.permute(0, 2, 3, 4, 1).contiguous().numpy())

    def no_grad(f: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            with torch.no_grad():
                return f()

        return run

    runs = {
        "ours": no_grad(lambda: ours(clip)),
        "eager": no_grad(lambda: eager(clip)),
        "onnxruntime": lambda: onnxruntime(clip),
        "tensorflow": lambda: signature(rgb_input=clip_tf)["default"].numpy(),
    }
    with torch.no_grad():
        want = eager(clip)
        agreement = {
            "ours": float((ours(clip) - want).abs().max()),
            "onnxruntime": float((onnxruntime(clip) - want).abs().max()),
            "tensorflow": float(np.abs(runs["tensorflow"]() - want.numpy()).max()),
        }
    clip_times = interleave(runs, args.rounds)

    videos = np.random.default_rng(0).integers(0, 256, (args.fvd_videos, 16, 64, 64, 3), dtype=np.uint8)
    with_ort = FastI3D(eager)
    with_ort._runners["Logits"] = onnxruntime
    fvd_runs = {
        "ours": lambda: i3d_features(videos, model=ours),
        "onnxruntime": lambda: i3d_features(videos, model=with_ort),
        "tensorflow": lambda: embed(signature, videos),
    }
    fvd_agreement = float(np.abs(fvd_runs["ours"]() - fvd_runs["tensorflow"]()).max())
    fvd_times = interleave(fvd_runs, args.fvd_rounds)
    fvd = summary(fvd_times)
    for row in fvd.values():
        row["videos_per_s"] = args.fvd_videos / row["median_s"]
    print(
        json.dumps(
            {
                "threads": args.threads,
                "load_avg_1min": os.getloadavg()[0],
                "first_run_s": first_run_s,
                "clip": summary(clip_times),
                "clip_max_abs_diff_vs_eager": agreement,
                "fvd": fvd,
                "fvd_max_abs_diff_ours_vs_tf": fvd_agreement,
                "fvd_work": f"{args.fvd_videos}x16x64x64",
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
