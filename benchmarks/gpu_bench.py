"""Every GPU figure in one prepared run: ``make bench-gpu`` (or ``python -m benchmarks.gpu_bench``).

On an H100/H200 with only the project installed (``make venv``) it runs in a few minutes (well under 8)
and writes ``benchmarks/gpu_bench.json`` and ``benchmarks/GPU_RESULTS.md`` (rows for RESULTS.md):

- I3D forward, 64x224², batch 1/8/32, fp32 (TF32 off) / TF32 / bf16 autocast: ``eager`` (the model
  as loaded) against ``fast`` (BatchNorm folded, channels-last, cuDNN autotuning; the CPU fast path
  is OpenVINO and does not apply on GPUs);
- one bf16 training step (forward, backward, SGD) at batch 8, 64x224²;
- FVD features in videos/s (16-frame 224² uint8 clips, batch 16, fp32: the recipe);
- TV-L1 (``converter.video.tvl1``) pairs/s at 256x340, batch 64;
- ``features`` end to end in clips/s (decode, resize, crop, Mixed_5c, pooling) on a generated video.

``--smoke`` runs every item at tiny sizes on whatever device there is (CPU in CI, so a test keeps the
script working); its figures mean nothing. Weights are random (speed does not depend on them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
# clip frames and size; forward batches; training batch; FVD (videos, frames, size); TV-L1 (pairs, H, W)
FULL = {"frames": 64, "size": 224, "batches": (1, 8, 32), "train_batch": 8}
FULL |= {"fvd": (64, 16, 224), "tvl1": (64, 256, 340)}
ITEMS = ("forward", "train", "fvd", "tvl1", "features")
SMOKE = {"frames": 9, "size": 193, "batches": (1,), "train_batch": 1, "fvd": (2, 9, 64), "tvl1": (2, 24, 32)}


def timed(step: Callable[[], object], device: torch.device, rounds: int, warmup: int = 2) -> float:
    """Median seconds of ``step`` (synchronised on CUDA) over ``rounds`` after ``warmup`` calls."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup if rounds > 1 else 0):  # --smoke (one round): no warm-up
        step()
    sync()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def forward_rows(device: torch.device, sizes: dict, rounds: int) -> list[dict]:
    from converter.models.i3d import InceptionI3d
    from converter.precision import precision

    eager = InceptionI3d().to(device).eval().requires_grad_(False)
    fast = eager.fuse().to(memory_format=torch.channels_last_3d)
    rows = []
    torch.backends.cudnn.benchmark = True
    modes = ("fp32", "tf32", "bf16") if device.type == "cuda" else ("fp32", "bf16")
    for batch in sizes["batches"]:
        x = torch.rand(batch, 3, sizes["frames"], sizes["size"], sizes["size"], device=device) * 2 - 1
        for mode in modes:
            for impl, model in (("eager", eager), ("fast", fast)):
                inp = x.contiguous(memory_format=torch.channels_last_3d) if impl == "fast" else x

                def step(model=model, inp=inp, mode=mode) -> None:
                    with torch.inference_mode(), precision(mode, device):
                        model(inp)

                seconds = timed(step, device, rounds)
                rows.append(
                    {
                        "item": "i3d forward",
                        "impl": impl,
                        "precision": mode,
                        "batch": batch,
                        "clip": f"{sizes['frames']}x{sizes['size']}²",
                        "median_s": seconds,
                        "clips_per_s": batch / seconds,
                    }
                )
    return rows


def train_row(device: torch.device, sizes: dict, rounds: int) -> dict:
    from converter.models.i3d import InceptionI3d
    from converter.precision import precision

    model = InceptionI3d().to(device).train().to(memory_format=torch.channels_last_3d)
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    batch = sizes["train_batch"]
    x = torch.rand(batch, 3, sizes["frames"], sizes["size"], sizes["size"], device=device) * 2 - 1
    x = x.contiguous(memory_format=torch.channels_last_3d)
    labels = torch.randint(0, 400, (batch,), device=device)

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        with precision("bf16", device):
            loss = torch.nn.functional.cross_entropy(model(x).float(), labels)
        loss.backward()
        optimiser.step()

    seconds = timed(step, device, rounds)
    return {
        "item": "training step (SGD)",
        "impl": "eager, channels-last",
        "precision": "bf16",
        "batch": batch,
        "clip": f"{sizes['frames']}x{sizes['size']}²",
        "median_s": seconds,
        "clips_per_s": batch / seconds,
    }


def fvd_row(device: torch.device, sizes: dict, rounds: int) -> dict:
    from converter.fvd import i3d_features
    from converter.models.i3d import InceptionI3d

    n, t, size = sizes["fvd"]
    model = InceptionI3d().to(device).eval()
    videos = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (n, t, size, size, 3), dtype=np.uint8))
    seconds = timed(lambda: i3d_features(videos, model=model, batch_size=16), device, rounds, warmup=1)
    return {
        "item": "FVD features",
        "impl": "ours",
        "precision": "fp32",
        "batch": 16,
        "clip": f"{t}x{size}²",
        "median_s": seconds,
        "videos_per_s": n / seconds,
    }


def tvl1_row(device: torch.device, sizes: dict, rounds: int) -> dict:
    from converter.video.tvl1 import tvl1

    b, h, w = sizes["tvl1"]
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 255, (b, h + 2, w + 2)).astype(np.float32)
    frames0 = torch.from_numpy(base[:, 1:-1, 1:-1].copy()).to(device)
    frames1 = torch.from_numpy(base[:, 2:, :-2].copy()).to(device)  # shifted one pixel
    seconds = timed(lambda: tvl1(frames0, frames1), device, max(1, rounds // 2), warmup=1)
    return {
        "item": "TV-L1 flow",
        "impl": "tvl1-torch",
        "precision": "fp32",
        "batch": b,
        "clip": f"{h}x{w}",
        "median_s": seconds,
        "pairs_per_s": b / seconds,
    }


def features_row(device: torch.device, sizes: dict, rounds: int, folder: Path) -> dict:
    import av

    from converter.models.i3d import InceptionI3d
    from converter.video.features import FeatureSettings, extract

    frames = (4 if device.type == "cuda" else 2) * sizes["frames"]
    rng = np.random.default_rng(0)
    video = folder / "video.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 340, 256, "yuv420p"
        for _ in range(frames):
            image = rng.integers(0, 256, (256, 340, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    model = InceptionI3d().to(device).eval()
    settings = FeatureSettings(clip=sizes["frames"], stride=sizes["frames"])

    def step() -> None:
        extract([video], model, "rgb", folder / "out", settings, batch=4, force=True, progress=False)

    seconds = timed(step, device, max(1, rounds // 2), warmup=1)
    clips = frames // sizes["frames"]
    return {
        "item": "features end to end",
        "impl": "ours (rgb, Mixed_5c)",
        "precision": "fp32",
        "batch": 4,
        "clip": f"{sizes['frames']} frames of 256x340",
        "median_s": seconds,
        "clips_per_s": clips / seconds,
    }


def markdown(report: dict) -> str:
    """RESULTS.md rows of the report."""
    lines = [
        f"### GPU: {report['device_name']} (torch {report['torch']}, {report['when']})",
        "",
        "| item | impl | precision | batch | clip | median s | throughput |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        unit = next(k for k in ("clips_per_s", "videos_per_s", "pairs_per_s") if k in row)
        lines.append(
            f"| {row['item']} | {row['impl']} | {row['precision']} | {row['batch']} | {row['clip']} | "
            f"{row['median_s']:.4f} | {row[unit]:.2f} {unit.replace('_per_s', '/s')} |"
        )
    return "\n".join(lines) + "\n"


def write(out: Path, device: torch.device, smoke: bool, seconds: float, rows: list[dict]) -> dict:
    """The report so far, written to ``out``/gpu_bench.json and GPU_RESULTS.md."""
    report = {
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "smoke": smoke,
        "seconds": seconds,
        "load_avg_1min": os.getloadavg()[0],
        "rows": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_bench.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "GPU_RESULTS.md").write_text(markdown(report))
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes on any device (checks the script, not speed)")
    p.add_argument("--out", type=Path, default=HERE, help="folder for gpu_bench.json and GPU_RESULTS.md")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--items", default=",".join(ITEMS), help=f"comma-separated, of {', '.join(ITEMS)}")
    args = p.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type != "cuda" and not args.smoke:
        p.error("no CUDA device: run it on a GPU machine, or --smoke to check the script")
    sizes, rounds = (SMOKE, 1) if args.smoke else (FULL, args.rounds)
    start = time.perf_counter()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, measure in (
            ("forward", lambda: forward_rows(device, sizes, rounds)),
            ("train", lambda: [train_row(device, sizes, rounds)]),
            ("fvd", lambda: [fvd_row(device, sizes, rounds)]),
            ("tvl1", lambda: [tvl1_row(device, sizes, rounds)]),
            ("features", lambda: [features_row(device, sizes, rounds, Path(tmp))]),
        ):
            if name not in args.items.split(","):
                continue
            began = time.perf_counter()
            rows += measure()
            print(f"{name}: {time.perf_counter() - began:.1f} s", flush=True)
            report = write(args.out, device, args.smoke, time.perf_counter() - start, rows)  # what a time limit spares
    print(markdown(report))
    print(f"wrote {args.out / 'gpu_bench.json'} and {args.out / 'GPU_RESULTS.md'} in {report['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
