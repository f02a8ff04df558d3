"""``features VIDEOS… --out DIR``: one I3D endpoint's features per clip of each video of a dataset, with
timestamps; sharded across torchrun ranks and independent jobs, resumable."""

from __future__ import annotations

import argparse
import os

from converter.choices import FLOW_METHODS
from converter.commands.options import add_autorotate, add_backend, add_precision, add_weights
from converter.errors import ConversionError
from converter.video.presets import PRESETS, describe

ENDPOINT_HELP = "Conv3d_1a_7x7 … Mixed_5b, Mixed_5c (default), Logits"
LAUNCHER_GRACE_SECONDS = 60.0  # how long a rank that saw another one fail waits to be stopped by torchrun
DEFAULTS = {"endpoint": "Mixed_5c", "clip": 64, "fps": 25.0, "crops": 1, "flow_method": "tvl1"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "features",
        help="extract I3D endpoint features of videos or whole datasets, per clip, with timestamps",
        description="For each VIDEO (files, folders searched recursively, @LIST.txt with one path per line relative "
        "to the list), write DIR/<name>.npy (clips × feature) and DIR/<name>.json (settings, each clip's frames and "
        "start/end seconds from the frames' own presentation times); <name> mirrors the video's path under the "
        "folder or list. Videos are decoded at --fps with the I3D recipe and streamed: clips of --clip frames start "
        "every --stride frames; a video shorter than a clip, and the frames after the last whole clip, make one more "
        "clip loop-padded to --clip frames (--drop-last drops it). --window centered instead gives one row per "
        "--stride-th frame from the --clip frames centred on it, the first/last frame repeated past the ends. "
        "Endpoint maps are averaged over time and space (--no-pool keeps them). --stream joint decodes once, runs "
        "the RGB and the flow model and writes each clip's features concatenated, RGB first (Mixed_5c: 2048). "
        "Scale-out: under torchrun each rank takes its share (one GPU per rank on CUDA); --shard I/N (or a Slurm "
        "array) splits between independent jobs; jobs sharing DIR claim each video (DIR/<name>.claim) so none is "
        "done twice. Done videos are skipped unless --force (other settings are refused); a rerun after a crash "
        "finishes the missing ones. DIR/manifest.jsonl gets one line per video finished or failed. "
        f"Presets: {describe()}.",
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files, GIFs, frame folders, folders, @list.txt")
    p.add_argument("--out", type=os.fspath, required=True, metavar="DIR", help="output folder")
    add_weights(
        p,
        "RGB and/or flow I3D weights (default: <stream>_{imagenet,scratch}.safetensors in ./weights, then in "
        "$I3D_CONVERTER_HOME/weights, ~/.cache/i3d-converter/weights by default)",
    )
    p.add_argument(
        "--stream", choices=("rgb", "flow", "joint"), help="which model(s) to run (default: those --weights give)"
    )
    p.add_argument("--per-stream", action="store_true", help="joint: also write each stream's own array")
    p.add_argument("--preset", choices=tuple(PRESETS), help="a published recipe (options given still win)")
    p.add_argument("--endpoint", help=f"which activations: {ENDPOINT_HELP}")
    p.add_argument("--clip", type=int, help="frames per clip (window length; default 64)")
    p.add_argument("--stride", type=int, help="frames from one clip's start to the next (default: --clip)")
    p.add_argument("--window", choices=("clips", "centered"), default="clips", help="clips (default) or centered")
    p.add_argument("--fps", type=_fps, help="sample rate in frames/s (the recipe: 25), or native (alias 0)")
    p.add_argument("--crops", type=int, choices=(1, 10), help="1: centre crop; 10: corners, centre and mirrors")
    p.add_argument("--batch", type=int, default=4, help="clips per forward pass (of one video)")
    p.add_argument("--no-pool", dest="pool", action="store_false", help="keep (C, T, H, W) maps per clip")
    p.add_argument("--drop-last", action="store_true", help="no loop-padded clip for the frames at the end")
    p.add_argument(
        "--flow-method",
        choices=FLOW_METHODS,
        help="flow weights only: tvl1 (OpenCV, slow) and tvl1-torch (PyTorch, batched on CUDA) are the I3D recipe; "
        "default (and presets): tvl1, tvl1-torch on CUDA; the JSON records the one used; dis and farneback are "
        "fast but NOT the recipe",
    )
    p.add_argument("--workers", type=int, default=1, help="decoding/flow processes feeding the model (0: none)")
    p.add_argument(
        "--threads",
        type=_threads,
        metavar="N",
        help="CPU threads of the model (torch.set_num_threads, which the openvino backend follows too; default: "
        "torch's, one per core, and 1 under torchrun, which sets OMP_NUM_THREADS=1); jobs sharing a machine: "
        "cores / jobs each",
    )
    p.add_argument("--shard", help="I/N: this job's share of the videos (default: a Slurm array's, else all)")
    p.add_argument("--device", help="torch device (default: cuda, one GPU per torchrun rank, when available)")
    add_precision(p)
    add_backend(p)
    add_autorotate(p)
    p.add_argument("--force", action="store_true", help="redo videos already done")
    p.add_argument("--quiet", action="store_true", help="no progress bar (it shows on a terminal only)")
    p.set_defaults(func=run)


def _fps(text: str) -> float:
    """A positive rate, or 0.0 for native (None stays "not given", for presets)."""
    if text.strip().lower() in ("native", "0", "0.0"):
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'native', got {text!r}")
    return value


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of threads, at least 1, got {text!r}")
    return value


def recipe_flow_method(method: str, device) -> str:
    """The TV-L1 of the default and of the presets on ``device`` (a torch.device or its name): the batched
    tvl1-torch on CUDA (the same algorithm, within docs/tvl1.md's tolerance of OpenCV's), else as named."""
    import torch

    from converter.video.flow import RECIPE_METHOD, TORCH_METHOD

    return TORCH_METHOD if method == RECIPE_METHOD and torch.device(device).type == "cuda" else method


def settings_of(args: argparse.Namespace, device="cpu"):
    """FeatureSettings from the options, the preset filling what was not given; and the stream wanted.
    ``device``: where the model runs (TV-L1 not asked for by name is tvl1-torch on CUDA)."""
    from converter.video.features import FeatureSettings
    from converter.video.presets import preset

    chosen = preset(args.preset) if args.preset else None
    values = {**DEFAULTS, **(chosen.settings if chosen else {})}
    values["flow_method"] = recipe_flow_method(values["flow_method"], device)
    values.update({k: v for k in DEFAULTS if (v := getattr(args, k)) is not None})
    values["fps"] = values["fps"] or None  # 0: native
    stride = args.stride or (chosen.settings["stride"] if chosen and args.clip is None else None)
    settings = FeatureSettings(
        endpoint=values["endpoint"],
        clip=values["clip"],
        stride=stride or values["clip"],
        fps=values["fps"],
        pool=args.pool,
        drop_last=args.drop_last,
        flow_method=values["flow_method"],
        autorotate=args.autorotate,
        precision=args.precision,
        crops=values["crops"],
        window=args.window,
        preset=args.preset,
    )
    return settings, args.stream or (chosen.stream if chosen else None)


def run(args: argparse.Namespace) -> int:
    import torch

    from converter import distributed
    from converter.video.dataset import parse_shard

    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    several = distributed.launched_world_size() > 1
    device = torch.device(args.device or (f"cuda:{local}" if cuda and several else "cuda" if cuda else "cpu"))
    settings, stream_wanted = settings_of(args, device)
    shard = parse_shard(args.shard)
    if args.threads:
        torch.set_num_threads(args.threads)  # before the backend compiles the model with that many
    with distributed.process_group(device):
        rank, world = distributed.world()
        share = (shard[0] + shard[1] * rank, shard[1] * world)
        summary = _extract(args, settings, stream_wanted, device, share, lead=rank == 0)
        failed = len(summary.of("failed"))
        if world > 1:
            failed = _gather_summaries(summary, failed, rank, world, device)
        else:
            for line in summary.lines():
                print(line)
    return 1 if failed else 0


def _gather_summaries(summary, failed: int, rank: int, world: int, device) -> int:
    """Rank 0 prints every rank's summary; every rank gets the number of failed videos of all."""
    import time

    import torch
    import torch.distributed as dist

    try:
        everyone: list = [None] * world
        dist.all_gather_object(everyone, summary.lines()[-1 - failed :])
        if rank == 0:
            for r, lines in enumerate(everyone):
                for line in lines:
                    print(f"rank {r}: {line}")
        totals = torch.tensor([failed], device=device)  # NCCL reduces on the GPU
        dist.all_reduce(totals)
    except RuntimeError as err:  # gloo: "Connection closed by peer" once a failed rank has exited
        if "TORCHELASTIC_RUN_ID" in os.environ:
            # torchrun stops this rank within a poll (distributed.Stopped); exiting first instead would
            # make its summary name this rank, not the failed one, as the root cause
            time.sleep(LAUNCHER_GRACE_SECONDS)
        raise ConversionError(
            None, f"rank {rank}: its videos are done, but another rank ended before the summary (see its error)"
        ) from err
    return int(totals.item())


def _extract(args, settings, stream_wanted, device, share, *, lead: bool):
    from converter.fast import accelerate
    from converter.precision import prepare
    from converter.video.features import extract
    from converter.video.streams import load_streams

    loaded = load_streams(args.weights, stream_wanted, device=str(device))
    stream = "joint" if len(loaded) > 1 else next(iter(loaded))
    if stream_wanted == "joint" and stream != "joint":
        raise ConversionError(None, f"preset {args.preset} needs RGB and flow weights (give --weights twice)")
    models = {
        s: accelerate(prepare(model, args.precision), args.backend, precision=args.precision)
        for s, (_, model) in loaded.items()
    }
    weights = ", ".join(f"{s} {path}" for s, (path, _) in loaded.items())
    fps = "native fps" if settings.fps is None else f"{settings.fps:g} fps"
    if lead:
        print(
            f"{stream} stream, weights {weights} on {device} in {args.precision}: {settings.endpoint}, "
            f"{settings.window} of {settings.clip} every {settings.stride} at {fps}, {settings.crops} crop(s)"
            + (f", flow {settings.flow_method}" if "flow" in loaded else "")
            + (f", preset {settings.preset}" if settings.preset else "")
            + (" (joint rows: RGB then flow)" if len(loaded) > 1 else "")
        )
    return extract(
        args.videos,
        models,
        stream,
        args.out,
        settings,
        batch=args.batch,
        force=args.force,
        progress=not args.quiet and lead,
        per_stream=args.per_stream,
        workers=args.workers,
        share=share,
    )
