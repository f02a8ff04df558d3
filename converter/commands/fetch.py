"""``fetch``: download the official TF checkpoints (network needed), verified."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from converter.fetch import BASE_URL, OFFICIAL

    p = sub.add_parser(
        "fetch",
        help="download the official kinetics-i3d checkpoints",
        description="Download official checkpoints into DEST/<name>/model.ckpt.*, verifying the index's sha256, "
        "the data size and every tensor's CRC32C; nothing unverified is kept.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help=f"default: all ({', '.join(OFFICIAL)})")
    p.add_argument("--dest", type=Path, default=Path("checkpoints"), help="folder (default: checkpoints)")
    p.add_argument("--base-url", default=BASE_URL, help="mirror of the repository's data/checkpoints folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from converter.fetch import OFFICIAL, fetch

    for name in args.names or list(OFFICIAL):
        fetch(name, args.dest, base_url=args.base_url)
    return 0
