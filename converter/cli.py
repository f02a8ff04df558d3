"""Command line: one sub-command per module in ``converter.commands``.

Each command module defines ``register(subparsers)``, which adds its parser and sets
``func`` to the function that runs it. Only the command being run is imported (all of them
for the top-level ``--help``), and command modules import their heavy dependencies (torch,
TensorFlow, OpenCV) inside that function, so ``convert`` starts on numpy alone.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

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
    "export",
    "fvd",
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for ``command`` alone, or for every command when it is None (or not one)."""
    parser = argparse.ArgumentParser(
        prog="i3d-converter" if Path(sys.argv[0]).name == "i3d-converter" else "python -m converter",
        description="Convert I3D checkpoints from TensorFlow (and other layouts) to PyTorch, exactly.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in (command,) if command in COMMANDS else COMMANDS:
        importlib.import_module(f"converter.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConversionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # Ctrl-C; or SIGTERM under torchrun (converter.distributed.Stopped)
        print(str(err) or "interrupted", file=sys.stderr)
        return 130
