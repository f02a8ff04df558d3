"""Peak memory of ``python -m converter fvd`` does not grow with the number of videos.

``python -m benchmarks.fvd_memory [N …]`` writes an (N, T, 256, 256, 3) uint8 ``.npy`` for each N, runs
``fvd REAL --save-stats`` on it in its own process (measured by ``benchmarks.measure_process``) and
prints N, wall seconds and peak RSS as a table: the array is memory-mapped and videos go through the
model a batch at a time, so peak RSS is the model plus one batch whatever N is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

FRAMES, SIZE, BATCH = 16, 256, 4


def measure(n: int, folder: Path, weights: str) -> dict:
    videos = np.lib.format.open_memmap(folder / f"{n}.npy", "w+", np.uint8, (n, FRAMES, SIZE, SIZE, 3))
    rng = np.random.default_rng(n)
    for i in range(n):
        videos[i] = rng.integers(0, 256, (FRAMES, SIZE, SIZE, 3), dtype=np.uint8)
    videos.flush()
    del videos
    command = [sys.executable, "-m", "converter", "fvd", str(folder / f"{n}.npy"), "--save-stats"]
    command += [str(folder / f"{n}-stats.npz"), "--batch-size", str(BATCH), "--quiet", "--weights", weights]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.measure_process", *command], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def main(argv: list[str]) -> int:
    counts = [int(a) for a in argv] or [4, 24]
    weights = os.environ.get("FVD_WEIGHTS", "weights/rgb_scratch.safetensors")
    print(f"clips {FRAMES}x{SIZE}x{SIZE}, batch {BATCH}, load average {os.getloadavg()[0]:.1f}")
    print("| videos | array MiB | wall s | peak RSS MiB |\n|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            found = measure(n, Path(tmp), weights)
            assert found["returncode"] == 0, found
            mib = n * FRAMES * SIZE * SIZE * 3 / 2**20
            print(f"| {n} | {mib:.0f} | {found['seconds']:.1f} | {found['peak_rss_bytes'] / 2**20:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
