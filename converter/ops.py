"""The closed set of tensor ops a mapping rule may apply, each with its inverse.

A rule's ops run in order from source to target; ``inverse`` gives the ops that run from target back
to source, so every table also exports. Each op also maps shapes, so a conversion is verified from
the index alone, before any tensor data is read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Transpose:
    """Permute axes (e.g. TF's DHWIO conv kernel to PyTorch's OIDHW)."""

    perm: tuple[int, ...]

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != len(self.perm):
            raise ValueError(f"transpose {list(self.perm)} needs rank {len(self.perm)}, got shape {list(shape)}")
        return tuple(shape[i] for i in self.perm)

    def apply(self, array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.transpose(array, self.perm))

    def inverse(self) -> Transpose:
        return Transpose(tuple(int(i) for i in np.argsort(self.perm)))


@dataclass(frozen=True)
class Reshape:
    """Reshape to ``to``; the inverse reshapes to ``source`` (one ``-1`` allowed in each)."""

    to: tuple[int, ...]
    source: tuple[int, ...]

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return _resolve(self.to, shape)

    def apply(self, array: np.ndarray) -> np.ndarray:
        return array.reshape(self.shape(array.shape))

    def inverse(self) -> Reshape:
        return Reshape(self.source, self.to)


def _resolve(pattern: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    size = math.prod(shape)
    known = math.prod(d for d in pattern if d != -1)
    if -1 in pattern:
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape {list(shape)} to {list(pattern)}")
        return tuple(size // known if d == -1 else d for d in pattern)
    if known != size:
        raise ValueError(f"cannot reshape {list(shape)} to {list(pattern)}")
    return pattern


Op = Transpose | Reshape


def parse_op(spec: dict[str, Any], where: str) -> Op:
    """Build one op from its table form, e.g. ``{op = "transpose", perm = [4, 3, 0, 1, 2]}``."""
    kind = spec.get("op")
    try:
        if kind == "transpose":
            perm = tuple(int(i) for i in spec["perm"])
            if sorted(perm) != list(range(len(perm))):
                raise ValueError(f"perm {list(perm)} is not a permutation")
            return Transpose(perm)
        if kind == "reshape":
            to, source = tuple(spec["to"]), tuple(spec["from"])
            for pattern in (to, source):
                if pattern.count(-1) > 1 or any(not isinstance(d, int) or d < -1 for d in pattern):
                    raise ValueError(f"bad shape {list(pattern)}")
            return Reshape(to, source)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{where}: bad {kind} op {spec}: {err}") from None
    raise ValueError(f"{where}: unknown op {kind!r} (known: transpose, reshape)")


def apply_shape(ops: Sequence[Op], shape: tuple[int, ...]) -> tuple[int, ...]:
    for op in ops:
        shape = op.shape(shape)
    return shape


def apply_ops(ops: Sequence[Op], array: np.ndarray) -> np.ndarray:
    for op in ops:
        array = op.apply(array)
    return array


def inverse(ops: Sequence[Op]) -> tuple[Op, ...]:
    return tuple(op.inverse() for op in reversed(ops))
