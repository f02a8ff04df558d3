"""Forward speed of the exported files beside the eager model: eager, TorchScript, ONNX Runtime.

CPU: 16x224² RGB clip, batch 1, fp32, Logits; the three timed in alternation in the same run (a shared
CPU's load drifts), each one's median and per-round ratio to eager in ``extra_info["interleaved"]``.
CUDA (when present): eager and TorchScript on the GPU (ONNX Runtime's CPU build has no CUDA provider).
Quick mode (``--benchmark-disable``, CI): a 4x32² clip to Conv3d_2b_1x1, run once, so the code cannot rot.
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch

from benchmarks.harness import CUDA, he_init_
from converter.export import export_model, load
from converter.export.formats import load_onnx
from converter.models.i3d import InceptionI3d

ROUNDS, WARMUP = 7, 1


def runners(tmp_path, device: str, quick: bool) -> tuple[torch.Tensor, dict]:
    model = he_init_(InceptionI3d()).eval().requires_grad_(False)
    endpoint, shape = ("Conv3d_2b_1x1", (1, 4, 32, 32)) if quick else ("Logits", (1, 16, 224, 224))
    found = {"eager": lambda x: model.endpoints(x, [endpoint])[endpoint]}
    formats = ["torchscript"] + (["onnx"] if device == "cpu" else [])
    for fmt in formats:
        path = tmp_path / f"i3d.{fmt}"
        export_model(model, fmt, path, endpoint=endpoint, shape=shape, verify_shapes=[shape])
        found[fmt] = load_onnx(path) if fmt == "onnx" else load(path, fmt).to(device)
    model.to(device)
    b, t, h, w = shape
    return torch.rand(b, 3, t, h, w, device=device) * 2 - 1, found


@pytest.mark.parametrize(
    "device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU"))]
)
def test_export_forward(benchmark, tmp_path, device: str) -> None:
    quick = benchmark.disabled
    x, found = runners(tmp_path, device, quick)
    times: dict[str, list[float]] = {name: [] for name in found}

    def one_round() -> None:
        order = list(found.items())
        for name, run in order if len(times["eager"]) % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            with torch.no_grad():
                run(x)
            if device == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)

    benchmark.group = f"export forward {device} (interleaved)"
    if quick:
        benchmark.pedantic(one_round, rounds=1, iterations=1)
        assert all(len(v) == 1 for v in times.values())
        return
    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1, warmup_rounds=WARMUP)
    timed = {name: values[WARMUP:] for name, values in times.items()}
    rows = []
    for name, values in timed.items():
        ratios = [t / e for t, e in zip(values, timed["eager"], strict=True)]
        row = {"impl": name, "median_s": statistics.median(values), "time_vs_eager": statistics.median(ratios)}
        rows.append(row | {"times_s": values})
    benchmark.extra_info["interleaved"] = rows
    benchmark.extra_info["clip"] = "1x3x16x224x224 fp32, Logits"
