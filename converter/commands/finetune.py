"""``finetune``: retrain the converted I3D on a folder of pre-processed clips of your own classes.

The same command runs on one process or, under torchrun, on many with DistributedDataParallel
(gloo on CPU, NCCL on GPUs, one GPU per process)::

    torchrun --standalone --nproc_per_node=4 -m converter finetune --data ... --out ...
    # on each of two machines:
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d --rdzv-endpoint=HOST:29500 \
        --rdzv-id=JOB -m converter finetune --data ... --out ...

``--out`` must be a folder every machine sees (the first process writes, all read it on --resume).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from converter.models.i3d_spec import ENDPOINTS


def _milestones(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of epochs") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="fine-tune I3D on your own classes (one process, or many under torchrun)",
        description="Replace I3D's classifier by one for the classes of --classes and train it, with every block "
        "before --train-from frozen (no gradients, BatchNorm statistics fixed), on DATA/<split>/<class>/<clip>/"
        "{rgb,flow}.npy as `preprocess` writes them. Writes OUT/{last,best}_<stream>.safetensors (loadable with "
        "converter.load_model), OUT/{last,best}.state.pt (optimizer state: --resume continues a killed run "
        "exactly), OUT/metrics.csv, metrics.json, confusion.csv and curves.png. Multi-process: "
        "torchrun --nproc_per_node=N -m converter finetune ... (the batch size is per process).",
    )
    p.add_argument("--data", type=Path, required=True, help="pre-processed root holding <split>/<class>/<clip>/")
    p.add_argument("--classes", type=Path, required=True, help="classes.txt: one class name per line, label order")
    p.add_argument("--out", type=Path, required=True, help="folder for checkpoints and metrics")
    p.add_argument("--stream", choices=("rgb", "flow", "joint"), default="rgb", help="joint: logits summed")
    p.add_argument("--weights", type=Path, required=True, help="converted I3D weights (the RGB ones for joint)")
    p.add_argument("--flow-weights", type=Path, help="flow weights of the joint stream")
    p.add_argument(
        "--cross-modality",
        action="store_true",
        help="allow RGB weights for the flow stream: stem kernel averaged over RGB, copied to 2 channels (TSN)",
    )
    p.add_argument(
        "--train-from",
        choices=ENDPOINTS,
        default="Mixed_5b",
        metavar="ENDPOINT",
        help="this endpoint and all after it train, all before are frozen (default Mixed_5b: Mixed_5b, "
        "Mixed_5c and the new logits, as the re-trainable I3D project's --freeze 15)",
    )
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=4, help="clips per process and batch")
    p.add_argument("--accumulate", type=int, default=1, help="batches whose gradients make one optimizer step")
    p.add_argument("--clip-frames", type=int, default=64, help="frames per clip (short clips are looped; >= 9)")
    p.add_argument("--crop", type=int, default=224, help="square crop, random when training (193..224)")
    p.add_argument("--no-flip", dest="flip", action="store_false", help="no random horizontal flips")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd", help="SGD with momentum, or AdamW")
    p.add_argument("--lr", type=float, help="peak learning rate (default 0.01 for sgd, 1e-3 for adamw)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    p.add_argument("--weight-decay", type=float, help="on weights, not biases (default 1e-4 sgd, 0.05 adamw)")
    p.add_argument("--schedule", choices=("cosine", "step", "constant"), default="cosine", help="LR schedule")
    p.add_argument("--warmup-steps", type=int, default=0, help="optimizer steps of linear LR warmup")
    p.add_argument("--milestones", type=_milestones, default=(), help="step schedule: epochs where LR *= gamma")
    p.add_argument("--gamma", type=float, default=0.1, help="step schedule factor")
    p.add_argument(
        "--keep-prob",
        type=float,
        default=0.5,
        help="dropout KEEP probability before the logits, as TF I3D's dropout_keep_prob (1 = no dropout)",
    )
    p.add_argument(
        "--bn",
        choices=("batch", "frozen"),
        default="batch",
        help="batch: trained blocks' BatchNorm uses (globally synchronised) batch statistics; frozen: all use "
        "their running statistics (small batches)",
    )
    p.add_argument("--bn-momentum", type=float, default=0.1, help="running-statistics momentum of trained BNs")
    amp = p.add_mutually_exclusive_group()
    amp.add_argument("--amp", dest="amp", action="store_true", default=None, help="bf16 autocast (default on GPU)")
    amp.add_argument("--no-amp", dest="amp", action="store_false", help="float32 everywhere")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes per process")
    p.add_argument("--seed", type=int, default=0, help="seeds the classifier, shuffles, crops and dropout")
    p.add_argument("--deterministic", action="store_true", help="deterministic algorithms only (GPU; slower)")
    p.add_argument("--save-every", type=int, default=0, help="also save last.state.pt every N optimizer steps")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", default="val")
    run_mode = p.add_mutually_exclusive_group()
    run_mode.add_argument("--resume", action="store_true", help="continue OUT/last.state.pt if there is one")
    run_mode.add_argument("--force", action="store_true", help="start over in an OUT that holds a run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from converter.finetune.config import TrainConfig
    from converter.finetune.train import train

    options = {k: v for k, v in vars(args).items() if k not in ("command", "func", "resume", "force")}
    train(TrainConfig(**options), resume=args.resume, force=args.force)
    return 0
