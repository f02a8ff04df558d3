"""The conversion pipeline: read → map → verify → write.

``plan`` works on names and shapes only (a checkpoint's index), so every key is accounted for and
every shape checked before a single tensor is read; ``Plan.tensors`` then reads and transforms one
tensor at a time, so memory stays at one tensor beyond what the writer holds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from converter import models
from converter.choices import PROBLEM_KINDS
from converter.errors import ConversionError
from converter.mapping import Constant, Pair, Table
from converter.ops import apply_ops, apply_shape, inverse
from converter.readers import Source


@dataclass
class Report:
    """Every source key and every target parameter, accounted for."""

    table: str
    prefix: str
    matched: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    constant: list[str] = field(default_factory=list)  # tensors our model has no parameter for, checked
    unmatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # (source key, shape it maps to, target key, shape the architecture expects); either side may be absent
    mismatched: list[tuple[str, tuple[int, ...] | None, str, tuple[int, ...] | None]] = field(default_factory=list)

    def problems(self, allow: Iterable[str] = ()) -> list[str]:
        return [kind for kind in PROBLEM_KINDS if getattr(self, kind) and kind not in set(allow)]

    def summary(self) -> str:
        prefix = f", prefix {self.prefix!r}" if self.prefix else ""
        constant = f"{len(self.constant)} constant, " if self.constant else ""
        return (
            f"mapping {self.table}{prefix}: {len(self.matched)} matched, {len(self.ignored)} ignored, {constant}"
            f"{len(self.unmatched)} unmatched, {len(self.missing)} missing, {len(self.mismatched)} mismatched"
        )

    def details(self, limit: int = 20) -> list[str]:
        lines = []
        for kind in PROBLEM_KINDS:
            items = getattr(self, kind)
            for item in items[:limit]:
                if kind == "mismatched":
                    src, src_shape, tgt, tgt_shape = item
                    lines.append(f"  mismatched: {src} {_fmt(src_shape)} -> {tgt} expects {_fmt(tgt_shape)}")
                else:
                    lines.append(f"  {kind}: {item}")
            if len(items) > limit:
                lines.append(f"  … and {len(items) - limit} more {kind}")
        return lines


def _fmt(shape: tuple[int, ...] | None) -> str:
    return "(absent)" if shape is None else str(list(shape))


@dataclass
class Plan:
    source: Source
    table: Table
    report: Report
    config: dict[str, Any]
    items: list[tuple[Pair, tuple[int, ...]]]  # pairs to write, with their verified target shape

    def tensors(self) -> dict[str, Deferred]:
        """Target name → deferred tensor; data is read when the writer asks for it."""
        return {pair.target: Deferred(self, pair, shape) for pair, shape in self.items}


@dataclass(frozen=True)
class Deferred:
    """A target tensor known by shape and dtype, read from the source on ``load``."""

    plan: Plan
    pair: Pair
    shape: tuple[int, ...]

    @property
    def dtype(self) -> np.dtype:
        return self.plan.source.dtype(self.plan.report.prefix + self.pair.source)

    def load(self) -> np.ndarray:
        return apply_ops(self.pair.ops, self.plan.source.read(self.plan.report.prefix + self.pair.source))

    def release(self) -> None:
        """Tell an in-memory source the tensor is written (file-backed sources keep nothing to free)."""
        release = getattr(self.plan.source, "release", None)
        if release is not None:
            release(self.plan.report.prefix + self.pair.source)


def choose_prefix(keys: list[str], table: Table) -> str:
    """The table prefix under which most keys match; two scopes matching equally is ambiguous."""
    by_source = table.by_source()
    counts = {p: sum(1 for k in keys if k.startswith(p) and k[len(p) :] in by_source) for p in table.prefixes}
    best = max(counts.values(), default=0)
    tied = [p for p, n in counts.items() if n == best and best]
    if len(tied) > 1:
        raise ConversionError(
            None, f"keys match several scopes equally ({', '.join(map(repr, tied))}); pick one with --prefix"
        )
    return tied[0] if tied else ""


def plan(source: Source, table: Table, *, prefix: str | None = None) -> Plan:
    """Match, shape-check and account for every key; reads no tensor data."""
    keys = source.keys()
    prefix = choose_prefix(keys, table) if prefix is None else prefix
    report = Report(table=table.name, prefix=prefix)
    by_source, by_constant = table.by_source(), table.by_constant()
    produced: dict[str, tuple[Pair, tuple[int, ...]]] = {}
    constants: list[tuple[str, Constant]] = []
    for key in keys:
        local = key[len(prefix) :] if key.startswith(prefix) else None
        pair = by_source.get(local) if local is not None else None
        if pair is None:
            if local in by_constant:
                report.constant.append(key)
                constants.append((key, by_constant[local]))
            elif table.is_ignored(key) or (local is not None and table.is_ignored(local)):
                report.ignored.append(key)
            else:
                report.unmatched.append(key)
            continue
        report.matched.append((key, pair.target))
        source.dtype(key)  # an unreadable dtype stops here, naming the tensor
        try:
            produced[pair.target] = (pair, apply_shape(pair.ops, source.shape(key)))
        except ValueError:
            report.mismatched.append((key, source.shape(key), pair.target, None))

    constants = _promote_optional(source, report, constants, produced)
    spec = models.spec(table.architecture)
    try:
        config = spec.infer_config({target: shape for target, (_, shape) in produced.items()})
    except (ConversionError, KeyError, ValueError) as err:
        report.missing.extend(t for t in spec.parameter_shapes() if t not in produced)
        reason = getattr(err, "reason", err)
        raise PlanError(report, source.path, f"cannot tell the {table.architecture} configuration: {reason}") from None
    expected = spec.parameter_shapes(**config)
    items = []
    for target, (pair, shape) in produced.items():
        if expected.get(target) != shape:
            report.mismatched.append((prefix + pair.source, shape, target, expected.get(target)))
        else:
            items.append((pair, shape))
    report.missing.extend(t for t in expected if t not in produced)
    for key, constant in constants:
        _check_constant(source, report, key, constant, expected)
    return Plan(source, table, report, config, items)


def _promote_optional(
    source: Source,
    report: Report,
    constants: list[tuple[str, Constant]],
    produced: dict[str, tuple[Pair, tuple[int, ...]]],
) -> list[tuple[str, Constant]]:
    """Optional parameters (a constant with a ``target``): when any holds a value other than its constant,
    every one of them maps to its target as it is; the constants left to check are returned."""
    optional = [(key, c) for key, c in constants if c.target is not None]
    if not optional or all(np.all(np.asarray(source.read(key)) == c.value) for key, c in optional):
        return constants
    for key, constant in optional:
        report.constant.remove(key)
        report.matched.append((key, constant.target))
        produced[constant.target] = (Pair(constant.source, constant.target, ()), source.shape(key))
    return [(key, c) for key, c in constants if c.target is None]


def _check_constant(
    source: Source, report: Report, key: str, constant: Constant, expected: dict[str, tuple[int, ...]]
) -> None:
    """A checked constant must have its parameter's size and hold ``value`` everywhere: we cannot hold it."""
    if not constant.check:
        return
    shape = source.shape(key)
    size = math.prod(expected.get(constant.like, shape)) if constant.like else math.prod(constant.shape or ())
    if math.prod(shape) != size:
        report.mismatched.append((key, shape, constant.like or key, expected.get(constant.like or "")))
        return
    values = np.asarray(source.read(key))
    if not np.all(values == constant.value):
        wrong = values[values != constant.value].reshape(-1)
        raise PlanError(
            report,
            source.path,
            f"{key}: must be {constant.value} everywhere to convert (the model has no such parameter), "
            f"but {wrong.size} of {values.size} values differ, e.g. {wrong[0]!r}",
        )


class PlanError(ConversionError):
    """A plan that cannot go ahead (architecture unsettled, or a value the model cannot hold); carries the report."""

    def __init__(self, report: Report, path: Path, reason: str) -> None:
        self.report = report
        super().__init__(path, reason)


def select_table(
    source: Source, tables: Iterable[Table], *, prefix: str | None = None, allow: Iterable[str] = ()
) -> Plan:
    """The one table that accounts for every key of ``source`` or, failing that, the one that does with the
    ``allow``-ed problem kinds relaxed; none or several is an error."""
    candidates = [t for t in tables if source.format in t.formats]
    plans, failures = [], []
    for table in candidates:
        try:
            plans.append(plan(source, table, prefix=prefix))
        except PlanError as err:
            failures.append(f"{table.name}: {err.reason}")
    for relaxed in ((), tuple(allow)):
        fits = [p for p in plans if not p.report.problems(relaxed)]
        if len(fits) == 1:
            return fits[0]
        if len(fits) > 1:
            names = ", ".join(p.table.name for p in fits)
            raise ConversionError(source.path, f"several mappings fit ({names}); choose one with --mapping")
    if not candidates:
        raise ConversionError(source.path, f"no mapping table reads the {source.format} format")
    best = max(plans, key=lambda p: len(p.report.matched), default=None)
    detail = (f"; closest: {best.report.summary()}" if best else "") + "".join(f"; {f}" for f in failures)
    raise ConversionError(source.path, f"no mapping accounts for every key{detail} (see `inspect`)")


def export(state: Mapping[str, np.ndarray], table: Table, *, prefix: str = "") -> dict[str, np.ndarray]:
    """Our parameter names back to ``table``'s source names, through each rule's inverse ops.

    Strict like ``plan``: a parameter no rule covers, or a rule with no parameter, is an error.
    The table's constants are written too (a BatchNorm gamma of ones, a zero counter), and the result
    follows the table's ``order`` where it has one.
    """
    by_target = table.by_target()
    optional = {c.target: c for c in table.constants if c.target is not None and c.target in state}
    by_target.update({target: Pair(c.source, target, ()) for target, c in optional.items()})
    unknown = sorted(set(state) - set(by_target))
    missing = sorted(set(by_target) - set(state))
    if unknown or missing:
        raise ConversionError(
            None,
            f"mapping {table.name} cannot export: {len(unknown)} parameter(s) without a rule {unknown[:3]}, "
            f"{len(missing)} rule(s) without a parameter {missing[:3]}",
        )
    out = {
        prefix + pair.source: apply_ops(inverse(pair.ops), np.asarray(state[target]))
        for target, pair in by_target.items()
    }
    for constant in table.constants:
        if constant.target in optional:
            continue  # written from the weights above
        like = out[prefix + by_target[constant.like].source] if constant.like else None
        out[prefix + constant.source] = constant.make(like)
    if table.order:
        rank = {group: index for index, group in enumerate(table.order)}

        def position(key: str) -> int:
            return min((rank[g] for g in table.order if key.startswith(prefix + g)), default=len(rank))

        out = dict(sorted(out.items(), key=lambda item: position(item[0])))
    return out
