"""Options shared by the commands that decode videos and run I3D: weights, precision, rotation."""

from __future__ import annotations

import argparse
from pathlib import Path

from converter.precision import PRECISIONS


def add_weights(p: argparse.ArgumentParser, what: str, *, required: bool = False) -> None:
    """``--weights FILE``, one file per flag, repeatable; RGB and flow are told apart by their metadata."""
    p.add_argument(
        "--weights",
        type=Path,
        action="append",
        required=required,
        metavar="FILE",
        help=f"{what}; one file per --weights, repeat it for RGB and flow (told apart by the file's metadata)",
    )


def add_precision(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32: true float32 on every device (TF32 off); tf32: TF32 allowed on GPUs; bf16: bfloat16 autocast, "
        "channels-last (fast on CPUs with AMX and on GPUs, logits drift ~0.1)",
    )


def add_autorotate(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-autorotate",
        dest="autorotate",
        action="store_false",
        help="keep frames as stored (default: apply the video's display rotation / the images' EXIF orientation)",
    )


def add_backend(p: argparse.ArgumentParser) -> None:
    """``--backend fast|eager`` for commands whose model only infers (``converter.fast``)."""
    p.add_argument(
        "--backend",
        choices=("fast", "eager"),
        help="fast (default, or $I3D_CONVERTER_BACKEND): on CPU in fp32, OpenVINO runs the verified ONNX "
        "export, made once per weights and endpoint in $I3D_CONVERTER_HOME/fast (logits within 5e-5 of eager); "
        "eager: PyTorch, the reference. GPUs and bf16 always run eager; without the cpu-fast extra, eager with "
        "a one-line note",
    )
