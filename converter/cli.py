"""Command line: one sub-command per module in ``converter.commands``.

Each command module defines ``register(subparsers)``, which adds its parser and sets
``func`` to the function that runs it. Command modules import their heavy dependencies
(torch, TensorFlow, OpenCV) inside that function, so ``--help`` and ``convert`` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from converter import __version__
from converter.errors import ConversionError

COMMANDS = (
    "convert",
    "inspect",
    "fetch",
    "inflate",
    "preprocess",
    "finetune",
    "evaluate",
    "predict",
    "classify",
    "features",
    "visualize",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m converter",
        description="Convert I3D checkpoints from TensorFlow (and other layouts) to PyTorch, exactly.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"converter.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConversionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
