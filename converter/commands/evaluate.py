"""``evaluate``: top-1/top-5, loss and confusion matrix of fine-tuned weights on a pre-processed split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from converter.commands.options import add_backend, add_precision, add_weights


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score fine-tuned I3D weights on a split of pre-processed clips",
        description="Score fine-tuned weights (one RGB and/or one flow file from `finetune`; two are fused by "
        "summing logits) on DATA/SPLIT/<class>/<clip>/ with centre crops, and print top-1, top-5, loss and the "
        "confusion matrix. Runs under torchrun too (each process scores a share of the clips).",
    )
    p.add_argument("--data", type=Path, required=True, help="pre-processed root holding <split>/<class>/<clip>/")
    p.add_argument("--split", default="val", help="split folder to score (default val)")
    add_weights(p, "fine-tuned RGB and/or flow weights", required=True)
    p.add_argument("--clip-frames", type=int, default=64, help="centre frames per clip (short clips looped)")
    p.add_argument("--crop", type=int, default=224, help="centre crop size")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    add_precision(p)
    add_backend(p)
    p.add_argument("--json", type=Path, help="also write the scores and confusion matrix here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from converter.fast import accelerate
    from converter.finetune import distributed
    from converter.finetune.data import ClipDataset, check_clip_size, find_clips
    from converter.finetune.evaluate import eval_loader, evaluate
    from converter.finetune.model import load_finetuned
    from converter.outputs import write_text
    from converter.precision import precision, prepare

    check_clip_size(args.clip_frames, args.crop)
    model, labels = load_finetuned(args.weights)
    streams = tuple(model.streams)
    clips = find_clips(args.data, args.split, labels, streams, crop=args.crop, every_class=False)
    context = distributed.start(args.device)
    try:
        dataset = ClipDataset(clips, streams, args.clip_frames, args.crop, train=False)
        loader = eval_loader(dataset, context, args.batch_size, args.workers)
        with precision(args.precision, context.device):
            ready = prepare(model.to(context.device), args.precision)
            ready = accelerate(ready, args.backend, precision=args.precision)
            tally = evaluate(ready, loader, len(labels), context)
    finally:
        distributed.stop(context)
    if not context.main:
        return 0
    scores = tally.scores()
    print(
        f"{args.split}: {scores['clips']} clips, {'+'.join(streams)} in {args.precision}: top-1 {scores['top1']:.4f} "
        f"top-5 {scores['top5']:.4f} loss {scores['loss']:.4f}"
    )
    print(confusion_table(labels, tally.confusion.tolist()))
    if args.json:
        report = {"split": args.split, "streams": list(streams), "precision": args.precision, "labels": labels}
        report |= scores
        report["confusion"] = tally.confusion.tolist()
        write_text(args.json, json.dumps(report, indent=1) + "\n")
    return 0


def confusion_table(labels: list[str], rows: list[list[int]], limit: int = 12) -> str:
    """Rows: true class, columns: predicted class, both by name (column names cut to ``limit`` characters)."""
    names = [label if len(label) <= limit else label[: limit - 1] + "…" for label in labels]
    widths = [max(5, len(name)) for name in names]
    corner = "true \\ predicted"
    first = max(len(corner), *(len(label) for label in labels))
    lines = [f"{corner:>{first}}  " + " ".join(f"{n:>{w}}" for n, w in zip(names, widths, strict=True))]
    for label, row in zip(labels, rows, strict=True):
        lines.append(f"{label:>{first}}  " + " ".join(f"{n:>{w}}" for n, w in zip(row, widths, strict=True)))
    return "\n".join(lines)
