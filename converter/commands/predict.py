"""``predict``: the most likely classes of one video under fine-tuned I3D weights."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from converter.choices import FLOW_METHODS
from converter.commands.options import add_autorotate, add_backend, add_precision, add_weights


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="classify one video (or frames folder, or pre-processed clip) with fine-tuned weights",
        description="Decode CLIP with the I3D recipe (25 fps, turned upright, short side 256, centre crop 224; flow "
        "by --flow-method) or read a pre-processed clip folder (any size `evaluate` takes: centre --crop), run "
        "the fine-tuned RGB and/or flow weights (two are fused by summing logits) and print the top classes with "
        "their softmax probabilities.",
    )
    p.add_argument("clip", type=Path, metavar="CLIP", help="video file, frames folder, or folder with rgb/flow.npy")
    add_weights(p, "fine-tuned RGB and/or flow weights", required=True)
    p.add_argument("--top", "--topk", dest="top", type=int, default=5, help="how many classes to print")
    p.add_argument("--clip-frames", type=int, default=0, help="score the centre N frames (0: the whole clip)")
    p.add_argument("--crop", type=int, default=224, help="centre crop size, as evaluate's")
    p.add_argument("--fps", type=float, default=25.0, help="sample rate; 0 keeps every frame")
    p.add_argument("--flow-method", choices=FLOW_METHODS, default="tvl1", help="tvl1 is the recipe")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    add_precision(p)
    add_backend(p)
    add_autorotate(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from converter.errors import ConversionError
    from converter.fast import accelerate
    from converter.finetune.data import check_clip_size
    from converter.finetune.model import load_finetuned
    from converter.finetune.predict import clip_arrays, predict
    from converter.precision import prepare
    from converter.video.decode import Orientation
    from converter.video.transforms import MIN_FRAMES

    if args.clip_frames and args.clip_frames < MIN_FRAMES:
        raise ConversionError(None, f"--clip-frames {args.clip_frames}: I3D needs at least {MIN_FRAMES}")
    check_clip_size(args.clip_frames or MIN_FRAMES, args.crop)
    model, labels = load_finetuned(args.weights)
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    model = accelerate(prepare(model.to(device), args.precision), args.backend, precision=args.precision)
    orientation = Orientation()
    arrays = clip_arrays(
        args.clip,
        tuple(model.streams),
        fps=args.fps or None,
        flow_method=args.flow_method,
        autorotate=args.autorotate,
        orientation=orientation,
    )
    probabilities = predict(model, arrays, args.clip_frames, crop=args.crop, precision=args.precision, path=args.clip)
    top = probabilities.topk(min(args.top, len(labels)))
    ranked = [(labels[i], p) for p, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)]
    streams = "+".join(model.streams)
    if args.json:
        top_json = [{"label": n, "probability": p} for n, p in ranked]
        report = {"clip": str(args.clip), "streams": streams, "precision": args.precision, "top": top_json}
        print(json.dumps(report | {"rotation": orientation.describe()}))
    else:
        rotation = f", frames {orientation.describe()}" if orientation.describe() else ""
        print(f"{args.clip}: {streams} on {device} in {args.precision}{rotation}")
        for name, probability in ranked:
            print(f"{probability:8.4f}  {name}")
    return 0
