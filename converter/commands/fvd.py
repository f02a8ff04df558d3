"""``fvd REAL FAKE``: Fréchet Video Distance exactly as TensorFlow's original computes it, and the metrics
papers print beside it (KVD, precision/recall) from the same features."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from converter.commands.options import add_backend, add_precision
from converter.fvd.kvd import SUBSET_SIZE, SUBSETS
from converter.fvd.protocols import NAMED_SOURCE, PROTOCOLS

NAMED_HELP = "; ".join(f"{name}: {line}" for name, line in NAMED_SOURCE.items())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fvd",
        help="Fréchet Video Distance between two sets of videos (TensorFlow's number, or StyleGAN-V's protocol), "
        "with KVD, precision/recall and bootstrap intervals on request",
        description="REAL and FAKE are each a folder searched recursively for videos/GIFs/frame folders (folders "
        "holding only images), a .npy/.npz array (N, T, H, W, 3) with values 0..255 (read video by video, never "
        "whole), a statistics file from --save-stats or a features file from --save-features. --protocol tf "
        "(default) is the original recipe (TF1 bilinear resize to 224, 2x/255-1, DeepMind's I3D logits, TF-GAN's "
        "distance), for any N >= 2; stylegan-v reproduces StyleGAN-V's choices (covariance / N, scipy sqrtm, 16 "
        "consecutive frames from a random offset, the first 2048 videos); the named protocols are StyleGAN-V's "
        f"src/metrics/metric_main.py metrics ({NAMED_HELP}; real clips from a random offset, generated clips from "
        "frame 0, videos shorter than a clip left out). Under torchrun each process computes a share of the videos.",
    )
    p.add_argument("real", type=Path, metavar="REAL", help="real videos (folder, .npy, .npz), statistics or features")
    p.add_argument(
        "fake",
        type=Path,
        metavar="FAKE",
        nargs="?",
        help="generated videos, statistics or features (optional when only saving REAL's)",
    )
    p.add_argument(
        "--weights",
        type=Path,
        help="I3D weights (default: rgb_scratch.safetensors in ./weights, then in $I3D_CONVERTER_HOME/weights)",
    )
    p.add_argument("--protocol", choices=tuple(PROTOCOLS), default="tf", help="tf: the original (default)")
    p.add_argument("--frames", type=int, help="frames per clip (default: the protocol's; tf all, stylegan-v 16)")
    p.add_argument("--stride", type=int, help="take every S-th frame of a clip (default: the protocol's, mostly 1)")
    p.add_argument(
        "--max-videos",
        type=int,
        help="N videos per side (default: tf all, StyleGAN-V's protocols 2048); tf samples N with --seed, "
        "StyleGAN-V's protocols take the first N in sorted order as StyleGAN-V does",
    )
    p.add_argument(
        "--value-range",
        choices=("0-255", "0-1"),
        default="0-255",
        help="pixel values of float videos: 0-255 (default; uint8 always is) or 0-1 (scaled by 255); float videos "
        "all in [0, 1] are refused under 0-255",
    )
    p.add_argument("--batch-size", type=int, default=16, help="videos per forward pass (the original: 16)")
    p.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    add_precision(p)  # only fp32 is the recipe
    add_backend(p)
    p.add_argument("--seed", type=int, default=0, help="clip offsets, --max-videos sample, KVD subsets, bootstrap")
    p.add_argument(
        "--metrics",
        default="fvd",
        help="comma-separated: fvd (default), kvd (unbiased MMD^2, cubic kernel), precision, recall (k=3)",
    )
    p.add_argument("--subsets", type=int, default=SUBSETS, help=f"KVD subsets (KID's default {SUBSETS})")
    p.add_argument(
        "--subset-size", type=int, default=SUBSET_SIZE, help=f"KVD subset size (KID's default {SUBSET_SIZE})"
    )
    p.add_argument("--bootstrap", type=int, default=0, metavar="B", help="B rounds: 95%% percentile intervals")
    p.add_argument("--save-stats", type=Path, metavar="PATH", help="write REAL's statistics (.npz) for reuse")
    p.add_argument("--save-fake-stats", type=Path, metavar="PATH", help="write FAKE's statistics (.npz)")
    p.add_argument("--save-features", type=Path, metavar="PATH", help="write REAL's per-video features (.npz)")
    p.add_argument("--save-fake-features", type=Path, metavar="PATH", help="write FAKE's per-video features (.npz)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from converter.distributed import launched_world_size, process_group
    from converter.errors import ConversionError

    if args.fake is None and args.save_stats is None and args.save_features is None:
        raise ConversionError(None, "give FAKE, or --save-stats/--save-features PATH to only write REAL's")
    for given in (args.real, args.fake):  # both sides up front, before minutes of features for one
        if given is not None and not given.exists():
            raise ConversionError(given, "no such file or folder")
    if launched_world_size() > 1:  # under torchrun: one GPU per process
        from converter.fvd.features import default_device

        args.device = default_device(args.device)
        with process_group(args.device):
            return _measure(args)
    return _measure(args)


def _measure(args: argparse.Namespace) -> int:
    import json
    import os
    from dataclasses import asdict

    from converter.fvd.api import _Detector, as_statistics, compute, side_data

    first = int(os.environ.get("RANK", "0")) == 0
    options = {
        "protocol": args.protocol,
        "frames": args.frames,
        "stride": args.stride,
        "max_videos": args.max_videos,
        "batch_size": args.batch_size,
        "precision": args.precision,
        "seed": args.seed,
        "progress": not (args.quiet or args.json),
        "value_range": args.value_range,
    }
    if args.fake is None:
        detector = _Detector(None, args.weights, args.device, args.backend, args.precision)
        side = side_data(args.real, detector=detector, **options)
        if first:
            for path, write in (
                (args.save_stats, lambda p: as_statistics(side, args.protocol).save(p)),
                (args.save_features, lambda p: side.save(p)),
            ):
                if path is not None:
                    write(path)
                    print(f"wrote {path}: {side.n} videos, protocol {side.protocol}")
        return 0
    result = compute(
        args.real,
        args.fake,
        weights=args.weights,
        device=args.device,
        metrics=args.metrics,
        subsets=args.subsets,
        subset_size=args.subset_size,
        bootstrap=args.bootstrap,
        backend=args.backend,
        save_real=args.save_stats if first else None,
        save_fake=args.save_fake_stats if first else None,
        save_real_features=args.save_features if first else None,
        save_fake_features=args.save_fake_features if first else None,
        **options,
    )
    if not first:
        return 0
    for note in result.notes:
        print(f"warning: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(asdict(result)))
        return 0
    note = "" if args.precision == "fp32" else f" ({args.precision}: NOT the recipe)"
    print(
        f"{_values(result)}  ({result.protocol} protocol{note}; {result.n_real} real, {result.n_fake} fake videos, "
        f"clips of {result.frames or 'all'} frames every {result.stride}; {result.seconds:.1f} s)"
    )
    for side, count in (("real", result.skipped_real), ("fake", result.skipped_fake)):
        if count:
            print(f"{count} {side} videos too short for a clip were left out (as StyleGAN-V does)")
    return 0


LABELS = {"fvd": "FVD", "kvd": "KVD", "precision": "precision", "recall": "recall"}


def _values(result) -> str:
    parts = []
    for name, label in LABELS.items():
        if name not in result.metrics:
            continue
        text = f"{label} {result.metrics[name]:.5f}"
        if name in result.intervals:
            low, high = result.intervals[name]
            text += f" [{low:.5f}, {high:.5f}]"
        if name == "kvd":
            text += f" (subsets {result.metrics['kvd_subsets_mean']:.5f} ± {result.metrics['kvd_subsets_std']:.5f})"
        parts.append(text)
    return ", ".join(parts)
