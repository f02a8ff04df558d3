"""``features VIDEOS… --out DIR``: one I3D endpoint's features per clip of each video, with timestamps."""

from __future__ import annotations

import argparse
from pathlib import Path

from converter.choices import FLOW_METHODS
from converter.commands.options import add_autorotate, add_backend, add_precision, add_weights

ENDPOINT_HELP = "Conv3d_1a_7x7 … Mixed_5b, Mixed_5c (default), Logits"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "features",
        help="extract I3D endpoint features of videos, per clip, with timestamps",
        description="For each VIDEO, write DIR/<name>.npy (clips × feature) and DIR/<name>.json (settings, each "
        "clip's frames and start/end seconds). Videos are decoded at --fps with the I3D recipe and streamed: "
        "clips of --clip frames start every --stride frames; a video shorter than a clip, and the frames after "
        "the last whole clip, make one more clip loop-padded to --clip frames (--drop-last drops it). "
        "Endpoint maps are averaged over time and space (--no-pool keeps them). Done videos are skipped "
        "unless --force; a failed video is reported and the others go on. --stream joint decodes once, runs the "
        "RGB and the flow model (TV-L1 flow by default) and writes each clip's features concatenated, RGB first "
        "(Mixed_5c: 1024 + 1024 = 2048); --per-stream also writes DIR/<name>.rgb.npy and DIR/<name>.flow.npy.",
    )
    p.add_argument("videos", type=Path, nargs="+", metavar="VIDEO", help="video files, GIFs or frame folders")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    add_weights(
        p,
        "RGB and/or flow I3D weights (default: <stream>_{imagenet,scratch}.safetensors in ./weights, then in "
        "$I3D_CONVERTER_HOME/weights, ~/.cache/i3d-converter/weights by default)",
    )
    p.add_argument(
        "--stream", choices=("rgb", "flow", "joint"), help="which model(s) to run (default: those --weights give)"
    )
    p.add_argument("--per-stream", action="store_true", help="joint: also write each stream's own array")
    p.add_argument("--endpoint", default="Mixed_5c", help=f"which activations: {ENDPOINT_HELP}")
    p.add_argument("--clip", type=int, default=64, help="frames per clip")
    p.add_argument("--stride", type=int, help="frames from one clip's start to the next (default: --clip)")
    p.add_argument("--fps", type=float, default=25.0, help="sample rate in frames/s (the recipe: 25)")
    p.add_argument("--batch", type=int, default=4, help="clips per forward pass")
    p.add_argument("--no-pool", dest="pool", action="store_false", help="keep (C, T, H, W) maps per clip")
    p.add_argument("--drop-last", action="store_true", help="no loop-padded clip for the frames at the end")
    p.add_argument(
        "--flow-method",
        choices=FLOW_METHODS,
        default="tvl1",
        help="flow weights only: tvl1 (OpenCV, slow) and tvl1-torch (PyTorch, CPU or CUDA) are the I3D recipe; "
        "dis and farneback are fast but NOT the recipe",
    )
    p.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    add_precision(p)
    add_backend(p)
    add_autorotate(p)
    p.add_argument("--force", action="store_true", help="redo videos already done")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from converter.fast import accelerate
    from converter.precision import prepare
    from converter.video.features import FeatureSettings, extract
    from converter.video.streams import load_streams

    settings = FeatureSettings(
        endpoint=args.endpoint,
        clip=args.clip,
        stride=args.clip if args.stride is None else args.stride,
        fps=args.fps,
        pool=args.pool,
        drop_last=args.drop_last,
        flow_method=args.flow_method,
        autorotate=args.autorotate,
        precision=args.precision,
    )
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    loaded = load_streams(args.weights, args.stream, device=device)
    stream = "joint" if len(loaded) > 1 else next(iter(loaded))
    models = {
        s: accelerate(prepare(model, args.precision), args.backend, precision=args.precision)
        for s, (_, model) in loaded.items()
    }
    weights = ", ".join(f"{s} {path}" for s, (path, _) in loaded.items())
    print(
        f"{stream} stream, weights {weights} on {device} in {args.precision}: {settings.endpoint}, "
        f"clips of {settings.clip} every {settings.stride}"
        + (" (joint rows: RGB then flow)" if len(loaded) > 1 else "")
    )
    summary = extract(
        args.videos,
        models,
        stream,
        args.out,
        settings,
        batch=args.batch,
        force=args.force,
        progress=not args.quiet,
        per_stream=args.per_stream,
    )
    for line in summary.lines():
        print(line)
    return 1 if summary.of("failed") else 0
