"""``fetch``: download the official TF checkpoints (network needed), verified; without ``--dest``, into the user
cache and converted there, so every command finds them."""

from __future__ import annotations

import argparse
from pathlib import Path

NAMES = ("rgb_imagenet", "rgb_scratch", "flow_imagenet", "flow_scratch", "rgb_scratch_kin600")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fetch",
        help="download (and convert) the official kinetics-i3d checkpoints",
        description="Download official checkpoints into DEST/<name>/model.ckpt.*, verifying the index's sha256, "
        "the data size and every tensor's CRC32C; nothing unverified is kept. Without --dest they go to "
        "$I3D_CONVERTER_HOME/checkpoints (~/.cache/i3d-converter by default) and are converted to "
        "$I3D_CONVERTER_HOME/weights/<name>.safetensors, where classify, features, fvd … look after ./weights.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help=f"default: all ({', '.join(NAMES)})")
    p.add_argument("--dest", type=Path, help="download only, into this folder (default: the user cache, converted)")
    p.add_argument("--base-url", help="a mirror of the official repository's data/checkpoints folder")
    p.add_argument("--force", action="store_true", help="reconvert weights already in the cache")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from converter.fetch import BASE_URL, fetch
    from converter.user_cache import cache_home

    dest = args.dest or cache_home() / "checkpoints"
    for name in args.names or NAMES:
        prefix = fetch(name, dest, base_url=args.base_url or BASE_URL)
        if args.dest is None:
            _convert(prefix, cache_home() / "weights" / f"{name}.safetensors", args.force)
    return 0


def _convert(prefix: Path, out: Path, force: bool) -> None:
    from converter.conversion import convert

    if out.is_file() and not force:
        print(f"{out}: present, kept (--force reconverts)")
        return
    result = convert(str(prefix), out, force=force)
    print(f"wrote {result.written.path} ({result.plan.report.summary()})")
