"""``visualize filters|activations``: GIF and PNG pictures of I3D's first-layer filters or a video's activations."""

from __future__ import annotations

import argparse
from pathlib import Path

from converter.choices import FLOW_METHODS
from converter.commands.options import add_autorotate, add_backend, add_precision


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "visualize",
        help="GIF/PNG of I3D's first-layer filters or of a video's activations",
        description="Write pictures with Pillow: `filters` draws the 64 Conv3d_1a_7x7 kernels (a GIF over their "
        "7 time taps, a PNG of the middle one); `activations` draws the most active channels of chosen "
        "endpoints for a video (a GIF over the endpoint's time steps beside the input frame, a PNG of the "
        "middle step).",
    )
    what = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    filters = what.add_parser("filters", help="the first-layer (Conv3d_1a_7x7) kernels")
    activations = what.add_parser("activations", help="a video's activations at chosen endpoints")
    activations.add_argument("video", type=Path, metavar="VIDEO", help="video file, GIF or folder of frames")
    activations.add_argument(
        "--endpoints", nargs="+", default=["Conv3d_1a_7x7", "Mixed_3c", "Mixed_4f", "Mixed_5c"], help="which ones"
    )
    activations.add_argument("--frames", type=int, default=64, help="how many frames of the video, from its start")
    activations.add_argument("--channels", type=int, default=16, help="how many channels per endpoint (most active)")
    activations.add_argument("--fps", type=float, default=25.0, help="sample rate in frames/s (the recipe: 25)")
    activations.add_argument("--flow-method", choices=FLOW_METHODS, default="tvl1", help="flow weights only")
    add_precision(activations)
    add_backend(activations)
    add_autorotate(activations)
    for parser in (filters, activations):
        parser.add_argument(
            "--weights",
            type=Path,
            help="I3D weights (default: rgb_{imagenet,scratch} in ./weights, then in $I3D_CONVERTER_HOME/weights)",
        )
        parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
        parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from converter.fast import accelerate
    from converter.precision import prepare
    from converter.video.streams import default_weights, load_stream
    from converter.video.visualize import save_activations, save_filters

    weights = args.weights or default_weights("rgb")
    stream, model = load_stream(weights)
    if args.what == "filters":
        for path in save_filters(model, args.out, weights.stem):
            print(path)
        return 0
    results = save_activations(
        args.video,
        accelerate(prepare(model, args.precision), args.backend, precision=args.precision),
        stream,
        args.endpoints,
        args.out,
        frames=args.frames,
        channels=args.channels,
        fps=args.fps,
        flow_method=args.flow_method,
        precision=args.precision,
        autorotate=args.autorotate,
    )
    for result in results:
        shape = "x".join(map(str, result.shape))
        print(f"{result.endpoint} ({shape}, C x T x H x W): channels {result.channels}")
        print(f"  {result.gif}\n  {result.png}")
    return 0
