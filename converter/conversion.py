"""One conversion, end to end: read → map → verify → write, with its metadata."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from converter import __version__, exporters, sources
from converter.engine import Plan, plan, select_table
from converter.errors import ConversionError
from converter.hashing import Digest, source_sha256
from converter.mapping import load_table, load_tables
from converter.readers import open_source
from converter.reference_data import label_map
from converter.writers import Later, Written, check_writable, write_weights

STREAMS = {3: "rgb", 2: "flow"}


@dataclass(frozen=True)
class Result:
    plan: Plan
    written: Written


def metadata(plan: Plan, source_name: str, source_sha256: str | Later) -> dict[str, str | Later]:
    """What a weights file says about itself: enough to rebuild the model and trace its origin."""
    config = plan.config
    meta: dict[str, str | Later] = {
        "format": "i3d-converter/1",
        "architecture": plan.table.architecture,
        "config": json.dumps(config, sort_keys=True),
        "num_classes": str(config.get("num_classes", "")),
        "in_channels": str(config.get("in_channels", "")),
        "source": source_name,
        "source_format": plan.source.format,
        "source_sha256": source_sha256,
        "mapping": plan.table.name,
        "mapping_sha256": plan.table.sha256,
        "tool_version": __version__,
    }
    if config.get("in_channels") in STREAMS:
        meta["stream"] = STREAMS[config["in_channels"]]
    labels = label_map(config.get("num_classes", 0))
    if labels:
        meta["labels"] = json.dumps(labels)
    return meta


def convert(
    source: str,
    out: str | Path,
    *,
    mapping: str | None = None,
    fmt: str = "safetensors",
    prefix: str | None = None,
    allow: Iterable[str] = (),
    force: bool = False,
    to: str | None = None,
    digest: Digest | None = None,
) -> Result:
    """Convert ``source`` (path or packaged name) to ``out``; any unaccounted key fails unless allowed.

    ``to`` names another layout to write (``converter.exporters.TARGETS``: deepmind, tfhub, piergiaj,
    hassony2, keras) instead of our weights file (``fmt``), which carries metadata the others cannot.
    ``digest`` is the source's sha256 already started (the command line starts it before numpy loads);
    it is used when its files are the source's.
    """
    out = Path(out)
    if to is None:
        check_writable(out, force=force)
    else:
        exporters.check_writable(to, out, force=force)
    source_path, source_name = sources.resolve(source)
    source = open_source(source_path)
    if to is None:  # only our weights file records the source's hash, computed while it is parsed and written
        files = source.files()
        if digest is None or digest.paths != tuple(Path(f).absolute() for f in files):
            digest = source_sha256(files)
    the_plan = (
        select_table(source, load_tables(source.format), prefix=prefix, allow=allow)
        if mapping is None
        else plan(source, load_table(mapping), prefix=prefix)
    )
    problems = the_plan.report.problems(allow)
    if problems:
        details = "\n".join(the_plan.report.details())
        raise ConversionError(source_path, f"{the_plan.report.summary()}; refusing ({', '.join(problems)})\n{details}")
    if to is not None:
        state = {name: tensor.load() for name, tensor in the_plan.tensors().items()}
        return Result(the_plan, exporters.export_to(to, state, the_plan.config, out, force=force))
    meta = metadata(the_plan, source_name, Later(64, digest))
    return Result(the_plan, write_weights(out, the_plan.tensors(), meta, fmt, force=force))
