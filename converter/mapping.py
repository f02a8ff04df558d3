"""Declarative mapping tables (``converter/mappings/*.toml``): source names to our parameter names.

A table's rules are templates over placeholders; loading a table expands them into a concrete
one-to-one list of ``(source key, target key, ops)``. Matching a checkpoint is then an exact
look-up, never an ordered chain of regexes: a key that two rules produce, or two keys that land on
one target, is an error in the table itself. The same pairs run backwards for export.

A ``[[constant]]`` names a source tensor our model has no parameter for (a PyTorch BatchNorm's
gamma, its ``num_batches_tracked`` counter): reading either requires it to hold ``value`` everywhere
(anything else cannot be represented) or drops it (``read = "any"``); export writes ``value``. One
with a ``target`` is an optional parameter instead: when any of them holds another value, all of them
map to ``target`` (the model then has that parameter, e.g. a trained BatchNorm gamma), and export
writes the parameter where the weights have it.
An ``order`` lists source-key prefixes in the order export must write them, for layouts that are
loaded by position (Keras HDF5).
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.resources
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tomllib

from converter.errors import ConversionError
from converter.ops import Op, inverse, parse_op

# Package data, so a checkout, an editable install and an installed wheel find the same tables.
TABLES_DIR = Path(str(importlib.resources.files("converter") / "mappings"))
_FIELD = re.compile(r"\{(\w+)\}")
_TARGET_SEPARATOR = "."


@dataclass(frozen=True)
class Pair:
    """One source tensor and the parameter it becomes."""

    source: str
    target: str
    ops: tuple[Op, ...]

    @property
    def inverse_ops(self) -> tuple[Op, ...]:
        return inverse(self.ops)


@dataclass(frozen=True)
class Constant:
    """A source tensor with no parameter of ours: it may only hold ``value`` (``check``) or carries nothing."""

    source: str
    value: float
    check: bool
    like: str | None  # our parameter whose exported shape and dtype it takes
    shape: tuple[int, ...] | None  # otherwise a fixed shape and dtype
    dtype: str
    target: str | None = None  # the optional parameter it becomes when not all ``value``

    def make(self, like: np.ndarray | None = None) -> np.ndarray:
        """The tensor export writes."""
        if like is not None:
            return np.full(like.shape, self.value, dtype=like.dtype)
        return np.full(self.shape or (), self.value, dtype=self.dtype)


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    architecture: str
    formats: tuple[str, ...]
    prefixes: tuple[str, ...]
    ignore: tuple[str, ...]
    pairs: tuple[Pair, ...]
    path: Path
    sha256: str
    constants: tuple[Constant, ...] = ()
    order: tuple[str, ...] = ()  # source-key prefixes (ending in the separator), in export order

    def by_source(self) -> dict[str, Pair]:
        return {pair.source: pair for pair in self.pairs}

    def by_target(self) -> dict[str, Pair]:
        return {pair.target: pair for pair in self.pairs}

    def by_constant(self) -> dict[str, Constant]:
        return {constant.source: constant for constant in self.constants}

    def is_ignored(self, key: str) -> bool:
        return any(fnmatch.fnmatchcase(key, pattern) for pattern in self.ignore)


def table_paths() -> list[Path]:
    return sorted(TABLES_DIR.glob("*.toml"))


def load_table(name_or_path: str | Path) -> Table:
    """Load a table by name (``deepmind``) or by path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = TABLES_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            known = ", ".join(p.stem for p in table_paths())
            raise ConversionError(None, f"unknown mapping {name_or_path!r} (known: {known})")
    return _table(path, *_parse(path))


def load_tables(fmt: str | None = None) -> list[Table]:
    """Every table, or those for source format ``fmt`` (the others are parsed but not expanded)."""
    parsed = [(path, *_parse(path)) for path in table_paths()]
    return [_table(*table) for table in parsed if fmt is None or fmt in table[2].get("formats", [])]


def _parse(path: Path) -> tuple[bytes, dict[str, Any]]:
    try:
        raw = path.read_bytes()
        return raw, tomllib.loads(raw.decode())
    except OSError as err:
        raise ConversionError(path, f"cannot read mapping table: {err.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConversionError(path, f"bad mapping table: {err}") from None


def _table(path: Path, raw: bytes, data: dict[str, Any]) -> Table:
    try:
        return _build(data, path, hashlib.sha256(raw).hexdigest())
    except (ValueError, KeyError, TypeError) as err:
        raise ConversionError(path, f"bad mapping table: {err}") from None


def _build(data: dict[str, Any], path: Path, sha256: str) -> Table:
    separator = data.get("separator", "/")
    placeholders = {
        name: _placeholder_values(name, values, separator) for name, values in data.get("placeholders", {}).items()
    }
    renames = data.get("source_renames", {})
    pairs: list[Pair] = []
    for index, rule in enumerate(data.get("rule", [])):
        where = f"rule {index + 1} ({rule.get('source')!r})"
        ops = tuple(parse_op(spec, where) for spec in rule.get("ops", []))
        for source, target in _expand(rule["source"], rule["target"], placeholders, separator, where):
            pairs.append(Pair(_rename(source, renames), target, ops))
    _check_one_to_one(pairs)
    constants = [
        constant
        for index, spec in enumerate(data.get("constant", []))
        for constant in _constants(spec, placeholders, renames, separator, f"constant {index + 1}")
    ]
    _check_constants(constants, pairs)
    order = [
        f"{prefix}{separator}"
        for template in data.get("order", [])
        for prefix, _ in _expand(template, "", placeholders, separator, "order")
    ]
    unused = [prefix for prefix in order if not any(pair.source.startswith(prefix) for pair in pairs)]
    if unused:
        raise ValueError(f"order: {len(unused)} entries name no rule's source, e.g. {unused[0]!r}")
    return Table(
        name=data["name"],
        description=data.get("description", ""),
        architecture=data["architecture"],
        formats=tuple(data["formats"]),
        prefixes=tuple(data.get("prefixes", [""])),
        ignore=tuple(data.get("ignore", [])),
        pairs=tuple(pairs),
        path=path,
        sha256=sha256,
        constants=tuple(constants),
        order=tuple(order),
    )


def _placeholder_values(name: str, values: Any, separator: str) -> list[tuple[str, str]]:
    """``[a, b]`` (same spelling both sides) or ``{source = target}``; values may nest ``{other}``."""
    if isinstance(values, dict):
        return [(str(src), str(tgt)) for src, tgt in values.items()]
    if isinstance(values, list):
        return [(str(v), str(v).replace(separator, _TARGET_SEPARATOR)) for v in values]
    raise ValueError(f"placeholder {name!r} must be a list or a table")


def _expand(
    source: str, target: str, placeholders: dict[str, list[tuple[str, str]]], separator: str, where: str
) -> list[tuple[str, str]]:
    names = list(dict.fromkeys(_FIELD.findall(source)))
    unknown = [n for n in names if n not in placeholders]
    if unknown:
        raise ValueError(f"{where}: unknown placeholder(s) {unknown}")
    if set(_FIELD.findall(target)) - set(names):
        raise ValueError(f"{where}: target {target!r} uses a placeholder the source does not")
    out: list[tuple[str, str]] = []
    for combo in itertools.product(*(placeholders[n] for n in names)):
        src, tgt = source, target
        for name, (src_value, tgt_value) in zip(names, combo, strict=True):
            src = src.replace(f"{{{name}}}", src_value)
            tgt = tgt.replace(f"{{{name}}}", tgt_value.replace(separator, _TARGET_SEPARATOR))
        if _FIELD.search(src):  # a value that itself names placeholders
            out.extend(_expand(src, tgt, placeholders, separator, where))
        else:
            out.append((src, tgt))
    return out


def _constants(
    spec: dict[str, Any],
    placeholders: dict[str, list[tuple[str, str]]],
    renames: dict[str, str],
    separator: str,
    where: str,
) -> list[Constant]:
    """``{source, value, like}`` or ``{source, value, shape, dtype}``; ``read`` is "require" (default) or "any";
    an optional ``target`` (with ``like``) names the parameter it becomes when it holds other values."""
    where = f"{where} ({spec.get('source')!r})"
    read = spec.get("read", "require")
    if read not in ("require", "any"):
        raise ValueError(f"{where}: read must be 'require' or 'any', not {read!r}")
    like = spec.get("like")
    if (like is None) == ("shape" not in spec):
        raise ValueError(f"{where}: give either 'like' (one of our parameters) or 'shape'")
    value = spec["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: value must be a number, not {value!r}")
    dtype = np.dtype(spec.get("dtype", "float32")).name
    shape = None if like is not None else tuple(int(d) for d in spec["shape"])
    if "target" in spec and (like is None or read != "require"):
        raise ValueError(f"{where}: a 'target' needs 'like' and read = 'require'")
    likes = _expand(spec["source"], like or "", placeholders, separator, where)
    targets = _expand(spec["source"], spec.get("target", ""), placeholders, separator, where)
    return [
        Constant(
            _rename(source, renames), value, read == "require", like_ if like else None, shape, dtype, target or None
        )
        for (source, like_), (_, target) in zip(likes, targets, strict=True)
    ]


def _check_constants(constants: list[Constant], pairs: list[Pair]) -> None:
    sources = {pair.source for pair in pairs}
    targets = {pair.target for pair in pairs}
    seen: set[str] = set()
    optional = [c.target for c in constants if c.target]
    if len(set(optional)) != len(optional) or set(optional) & targets:
        raise ValueError("constant targets must be distinct and no rule's target")
    for constant in constants:
        if constant.source in sources or constant.source in seen:
            raise ValueError(f"constant {constant.source!r} is also produced by a rule or another constant")
        if constant.like is not None and constant.like not in targets:
            raise ValueError(f"constant {constant.source!r}: like {constant.like!r} is no rule's target")
        seen.add(constant.source)


def _rename(source: str, renames: dict[str, str]) -> str:
    for canonical, actual in renames.items():
        if source.startswith(canonical):
            return actual + source[len(canonical) :]
    return source


def _check_one_to_one(pairs: list[Pair]) -> None:
    for attr in ("source", "target"):
        seen: dict[str, int] = {}
        for pair in pairs:
            key = getattr(pair, attr)
            seen[key] = seen.get(key, 0) + 1
        twice = sorted(k for k, n in seen.items() if n > 1)
        if twice:
            raise ValueError(f"{len(twice)} {attr} key(s) produced by more than one rule, e.g. {twice[0]!r}")
