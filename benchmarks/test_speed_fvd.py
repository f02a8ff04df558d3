"""FVD feature extraction in videos/s: ours (torch, TF1 resize in torch) against the original TF pipeline
(``tf.compat.v1.image.resize_bilinear`` + DeepMind's TF-Hub graph) on the same videos, in one run.

CPU: both pipelines timed in alternation (``measure_together``'s reasoning: a shared CPU's load
drifts), batches of 16 as the original. CUDA: ours only (this TensorFlow is a CPU build), fp32 with
TF32 off (the recipe) and bf16 autocast (not the recipe); skipped without a GPU. ``--benchmark-disable``
(CI) runs one tiny round of each so the benchmark cannot rot. ``make_results.py`` writes the table.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest
import torch

from benchmarks.harness import CUDA, environment

CPU_WORK = (4, 16, 128, 128)  # videos, frames, height, width
CUDA_WORK = (64, 16, 128, 128)
QUICK_WORK = (1, 9, 64, 64)


def _videos(n: int, t: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, t, h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def fvd_weights(tfhub_module, tmp_path_factory):
    from converter.conversion import convert

    path = tmp_path_factory.mktemp("fvd-bench") / "i3d.safetensors"
    convert(str(tfhub_module), path)
    return path


def test_fvd_features_cpu(benchmark, tfhub_module, fvd_weights) -> None:
    hub = pytest.importorskip("tensorflow_hub")
    from converter.fvd import i3d_features, load_detector
    from tests.fvd.tf_pipeline import embed

    work = QUICK_WORK if benchmark.disabled else CPU_WORK
    videos = _videos(*work)
    model = load_detector(fvd_weights)
    signature = hub.load(str(tfhub_module)).signatures["default"]
    runs = {"ours": lambda: i3d_features(videos, model=model), "tensorflow": lambda: embed(signature, videos)}
    times: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, np.ndarray] = {}

    def one_round() -> None:
        order = list(runs.items()) if len(times["ours"]) % 2 == 0 else list(runs.items())[::-1]
        for name, run in order:
            start = time.perf_counter()
            outputs[name] = run()
            times[name].append(time.perf_counter() - start)

    benchmark.group = "fvd features (interleaved)"
    warmup = 0 if benchmark.disabled else 1
    benchmark.pedantic(one_round, rounds=1 if benchmark.disabled else 4, iterations=1, warmup_rounds=warmup)
    assert np.abs(outputs["ours"] - outputs["tensorflow"]).max() <= 1e-4
    timed = {name: values[warmup:] for name, values in times.items()}
    per_round = [tf / ours for tf, ours in zip(timed["tensorflow"], timed["ours"], strict=True)]
    benchmark.extra_info["fvd"] = [
        {
            "pipeline": name,
            "device": "cpu",
            "device_name": environment("cpu")["device_name"],
            "precision": "fp32",
            "work": "x".join(map(str, work)),
            "median_s": statistics.median(values),
            "videos_per_s": work[0] / statistics.median(values),
            "times_s": values,
            "speedup_vs_tensorflow": statistics.median(per_round) if name == "ours" else 1.0,
        }
        for name, values in timed.items()
    ]


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fvd_features_cuda(benchmark, fvd_weights, precision) -> None:
    from converter.fvd import i3d_features, load_detector

    work = QUICK_WORK if benchmark.disabled else CUDA_WORK
    videos = torch.from_numpy(_videos(*work))
    model = load_detector(fvd_weights, "cuda")

    def run() -> None:
        i3d_features(videos, model=model, precision=precision, batch_size=16)
        torch.cuda.synchronize()

    benchmark.group = "fvd features cuda"
    benchmark.pedantic(run, rounds=1 if benchmark.disabled else 5, iterations=1, warmup_rounds=1)
    if not benchmark.disabled:
        median = benchmark.stats.stats.median
        benchmark.extra_info["fvd"] = [
            {
                "pipeline": "ours" + ("" if precision == "fp32" else " (bf16, not the recipe)"),
                "device": "cuda",
                "device_name": torch.cuda.get_device_name(),
                "precision": precision,
                "work": "x".join(map(str, work)),
                "median_s": median,
                "videos_per_s": work[0] / median,
            }
        ]
