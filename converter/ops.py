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


INITS = ("center", "mean")


@dataclass(frozen=True)
class Inflate:
    """Insert a time axis of ``time`` slices at ``axis``: a 2D kernel becomes a 3D one (I3D's recipe).

    ``mean`` puts kernel / time in every slice, ``center`` the kernel in slice ``time // 2`` and zeros
    elsewhere. The slices sum to the 2D kernel either way, which is why a clip of one repeated image gives
    the 2D response. Not onto (a 3D kernel is rarely an inflated one), so only ``Deflate`` after
    ``Inflate`` is the identity, not the other way round.
    """

    axis: int
    time: int
    init: str

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if not 0 <= self.axis <= len(shape):
            raise ValueError(f"inflate at axis {self.axis} needs rank >= {self.axis}, got shape {list(shape)}")
        return (*shape[: self.axis], self.time, *shape[self.axis :])

    def apply(self, array: np.ndarray) -> np.ndarray:
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"inflate needs floating-point weights, got {array.dtype}")
        one = np.expand_dims(array, self.axis)
        if self.init == "mean":
            return np.repeat(one / np.asarray(self.time, array.dtype), self.time, axis=self.axis)
        out = np.zeros(self.shape(array.shape), array.dtype)
        np.moveaxis(out, self.axis, 0)[self.time // 2] = array
        return out

    def inverse(self) -> Deflate:
        return Deflate(self.axis, self.time, self.init)


@dataclass(frozen=True)
class Deflate:
    """Sum the ``time`` slices at ``axis`` away: ``Inflate``'s inverse (it never appears in a table).

    Exact after ``center`` (one slice plus zeros), exact to rounding after ``mean``; for any 3D kernel it
    is the 2D kernel that the 3D one acts as on a clip of one repeated image, away from the clip borders.
    ``init`` only says which ``Inflate`` the inverse gives back.
    """

    axis: int
    time: int
    init: str

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if not 0 <= self.axis < len(shape) or shape[self.axis] != self.time:
            raise ValueError(f"deflate needs {self.time} slices at axis {self.axis}, got shape {list(shape)}")
        return (*shape[: self.axis], *shape[self.axis + 1 :])

    def apply(self, array: np.ndarray) -> np.ndarray:
        self.shape(array.shape)
        return np.ascontiguousarray(array.sum(axis=self.axis, dtype=array.dtype))

    def inverse(self) -> Inflate:
        return Inflate(self.axis, self.time, self.init)


Op = Transpose | Reshape | Inflate | Deflate


def parse_op(spec: dict[str, Any], where: str) -> Op:
    """Build one op from its table form, e.g. ``{op = "transpose", perm = [4, 3, 0, 1, 2]}`` or
    ``{op = "inflate", axis = 0, time = 7, init = "mean"}``."""
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
        if kind == "inflate":
            axis, time, init = spec["axis"], spec["time"], spec["init"]
            if not _is_int(axis) or axis < 0 or not _is_int(time) or time < 1:
                raise ValueError("axis must be an integer >= 0 and time one >= 1")
            if init not in INITS:
                raise ValueError(f"init {init!r} is not one of {INITS}")
            return Inflate(axis, time, init)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{where}: bad {kind} op {spec}: {err}") from None
    raise ValueError(f"{where}: unknown op {kind!r} (known: transpose, reshape, inflate)")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
