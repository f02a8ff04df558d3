"""``preprocess DATA``: a folder of classified clips to I3D's ``rgb.npy`` and ``flow.npy`` per clip."""

from __future__ import annotations

import argparse
from pathlib import Path

from converter.choices import FLOW_METHODS
from converter.commands.options import add_autorotate


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "preprocess",
        help="turn videos or frame folders into I3D rgb.npy/flow.npy inputs",
        description="Pre-process DATA/videos/raw/<class>/<video> and DATA/images/raw/<class>/<series>/ "
        "(classes listed in DATA/classes.txt) into <kind>/pre-processed/<split>/<class>/<name>/rgb.npy "
        "(T,224,224,3) and flow.npy (T,224,224,2) with the I3D recipe: 25 fps, short side 256 (bilinear), "
        "centre crop 224, RGB x/127.5-1, TV-L1 flow clipped to +-20 and divided by 20. Clips shorter than "
        "--min-frames are looped. Finished clips are skipped: rerunning resumes an interrupted run. "
        "Videos given otherwise (files, folders without classes.txt searched recursively, @LIST.txt with one path "
        "per line relative to the list) go to OUTPUT/<path>/rgb.npy, flow.npy, meta.json, with no classes or split.",
    )
    p.add_argument(
        "data", nargs="+", metavar="DATA", help="folder holding classes.txt and videos/ or images/; or videos"
    )
    p.add_argument("--output", type=Path, help="write <kind>/pre-processed/ here instead of under DATA")
    p.add_argument("--fps", type=float, default=25.0, help="sample rate in frames/s; 0 keeps every frame")
    p.add_argument("--folder-fps", type=float, default=25.0, help="frame rate of image folders")
    p.add_argument(
        "--flow-method",
        choices=FLOW_METHODS,
        default="tvl1",
        help="tvl1 (OpenCV) and tvl1-torch (PyTorch, CPU or CUDA) are the I3D recipe; "
        "dis and farneback are much faster but NOT the recipe",
    )
    p.add_argument("--dtype", choices=("float32", "float16"), default="float32", help="output dtype")
    p.add_argument("--min-frames", type=int, default=9, help="loop shorter clips to this length (I3D needs 9)")
    p.add_argument("--max-frames", type=int, help="keep only the first N sampled frames of each clip")
    add_autorotate(p)
    split = p.add_mutually_exclusive_group()
    split.add_argument("--val-ratio", type=float, default=0.2, help="share of each class sent to val")
    split.add_argument("--split-file", type=Path, help="lines '<train|val> <class>/<name>' for every clip")
    p.add_argument("--seed", type=int, default=0, help="seed of the --val-ratio split")
    p.add_argument("--workers", type=int, default=1, help="clips processed in parallel")
    p.add_argument("--force", action="store_true", help="redo clips already done (also with other settings)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from converter.errors import ConversionError
    from converter.video.preprocess import CLASSES_FILE, KINDS, Settings, preprocess
    from converter.video.preprocess_videos import preprocess_videos

    settings = Settings(
        fps=args.fps or None,
        folder_fps=args.folder_fps,
        flow_method=args.flow_method,
        dtype=args.dtype,
        min_frames=args.min_frames,
        max_frames=args.max_frames,
        autorotate=args.autorotate,
    )
    root = Path(args.data[0])
    layout = [root / CLASSES_FILE, *(root / kind / "raw" for kind in KINDS)]
    dataset = len(args.data) == 1 and any(p.exists() for p in layout)
    if not dataset:
        if args.output is None:
            raise ConversionError(None, f"give --output for videos (or a DATA folder holding {CLASSES_FILE})")
        summary = preprocess_videos(
            args.data, args.output, settings, workers=args.workers, force=args.force, progress=not args.quiet
        )
        for line in summary.lines():
            print(line)
        return 1 if summary.of("failed") else 0
    summary = preprocess(
        args.data[0],
        args.output,
        settings,
        val_ratio=args.val_ratio,
        seed=args.seed,
        split_file=args.split_file,
        workers=args.workers,
        force=args.force,
        progress=not args.quiet,
    )
    for line in summary.lines():
        print(line)
    return 1 if summary.of("failed") else 0
