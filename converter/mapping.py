"""Declarative mapping tables (``mappings/*.toml``): source names to our parameter names.

A table's rules are templates over placeholders; loading a table expands them into a concrete
one-to-one list of ``(source key, target key, ops)``. Matching a checkpoint is then an exact
look-up, never an ordered chain of regexes: a key that two rules produce, or two keys that land on
one target, is an error in the table itself. The same pairs run backwards for export.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from converter.errors import ConversionError
from converter.ops import Op, inverse, parse_op

TABLES_DIR = Path(__file__).resolve().parent.parent / "mappings"
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

    def by_source(self) -> dict[str, Pair]:
        return {pair.source: pair for pair in self.pairs}

    def by_target(self) -> dict[str, Pair]:
        return {pair.target: pair for pair in self.pairs}

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
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode())
        return _build(data, path, hashlib.sha256(raw).hexdigest())
    except OSError as err:
        raise ConversionError(path, f"cannot read mapping table: {err.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise ConversionError(path, f"bad mapping table: {err}") from None


def load_tables() -> list[Table]:
    return [load_table(path) for path in table_paths()]


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
