"""``fetch``: download the official TF checkpoints (network needed), verified."""

from __future__ import annotations

import argparse
from pathlib import Path

NAMES = ("rgb_imagenet", "rgb_scratch", "flow_imagenet", "flow_scratch", "rgb_scratch_kin600")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fetch",
        help="download the official kinetics-i3d checkpoints",
        description="Download official checkpoints into DEST/<name>/model.ckpt.*, verifying the index's sha256, "
        "the data size and every tensor's CRC32C; nothing unverified is kept.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help=f"default: all ({', '.join(NAMES)})")
    p.add_argument("--dest", type=Path, default=Path("checkpoints"), help="folder (default: checkpoints)")
    p.add_argument("--base-url", help="a mirror of the official repository's data/checkpoints folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from converter.fetch import BASE_URL, fetch

    for name in args.names or NAMES:
        fetch(name, args.dest, base_url=args.base_url or BASE_URL)
    return 0
