"""``fvd REAL FAKE``: Fréchet Video Distance exactly as TensorFlow's original computes it."""

from __future__ import annotations

import argparse
from pathlib import Path

from converter.commands.options import add_backend, add_precision


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fvd",
        help="Fréchet Video Distance between two sets of videos (TensorFlow's number, or StyleGAN-V's protocol)",
        description="REAL and FAKE are each a folder of videos/GIFs/frame folders, a .npy/.npz array "
        "(N, T, H, W, 3) with values 0..255 (read video by video, never whole), or a statistics file from "
        "--save-stats. --protocol tf (default) is the original recipe (TF1 bilinear resize to 224, 2x/255-1, "
        "DeepMind's I3D logits, TF-GAN's distance), for any N >= 2; stylegan-v reproduces StyleGAN-V's "
        "choices (covariance / N, scipy sqrtm, 16 consecutive frames from a random offset, 2048 videos). "
        "Under torchrun each process computes a share of the videos.",
    )
    p.add_argument("real", type=Path, metavar="REAL", help="real videos (folder, .npy, .npz) or statistics file")
    p.add_argument(
        "fake", type=Path, metavar="FAKE", nargs="?", help="generated videos or statistics (optional with --save-stats)"
    )
    p.add_argument("--weights", type=Path, help="I3D weights (default: weights/rgb_scratch.safetensors)")
    p.add_argument("--protocol", choices=("tf", "stylegan-v"), default="tf", help="tf: the original (default)")
    p.add_argument("--frames", type=int, help="frames per clip (default: tf all, stylegan-v 16)")
    p.add_argument("--stride", type=int, default=1, help="take every S-th frame of a clip (default 1)")
    p.add_argument("--max-videos", type=int, help="first N videos per side (default: tf all, stylegan-v 2048)")
    p.add_argument("--batch-size", type=int, default=16, help="videos per forward pass (the original: 16)")
    p.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    add_precision(p)  # only fp32 is the recipe
    add_backend(p)
    p.add_argument("--seed", type=int, default=0, help="stylegan-v clip offsets (default 0)")
    p.add_argument("--save-stats", type=Path, metavar="PATH", help="write REAL's statistics (.npz) for reuse")
    p.add_argument("--save-fake-stats", type=Path, metavar="PATH", help="write FAKE's statistics (.npz)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from dataclasses import asdict

    from converter.errors import ConversionError
    from converter.fvd.api import _Detector, compute, side_statistics

    if args.fake is None and args.save_stats is None:
        raise ConversionError(None, "give FAKE, or --save-stats PATH to only write REAL's statistics")
    for given in (args.real, args.fake):  # both sides up front, before minutes of features for one
        if given is not None and not given.exists():
            raise ConversionError(given, "no such file or folder")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under torchrun: join the group, one GPU per process
        from converter.fvd.distributed import init_from_environment
        from converter.fvd.features import default_device

        args.device = default_device(args.device)
        init_from_environment(args.device)
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
    }
    if args.fake is None:
        detector = _Detector(None, args.weights, args.device, args.backend, args.precision)
        stats, _ = side_statistics(args.real, detector=detector, **options)
        if first:
            stats.save(args.save_stats)
            print(f"wrote {args.save_stats}: {stats.n} videos, protocol {stats.protocol}")
        return 0
    result = compute(
        args.real,
        args.fake,
        weights=args.weights,
        device=args.device,
        backend=args.backend,
        save_real=args.save_stats if first else None,
        save_fake=args.save_fake_stats if first else None,
        **options,
    )
    if not first:
        return 0
    if args.json:
        print(json.dumps(asdict(result)))
        return 0
    note = "" if args.precision == "fp32" else f" ({args.precision}: NOT the recipe)"
    print(
        f"FVD {result.fvd:.5f}  ({result.protocol} protocol{note}; {result.n_real} real, {result.n_fake} fake videos, "
        f"clips of {result.frames or 'all'} frames every {result.stride}; {result.seconds:.1f} s)"
    )
    for side, count in (("real", result.skipped_real), ("fake", result.skipped_fake)):
        if count:
            print(f"{count} {side} videos too short for a clip were left out (as StyleGAN-V does)")
    return 0
