"""Fixtures for the tensor_bundle tests: TensorFlow (skipped when absent) and small checkpoints."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tf():
    """TensorFlow, imported only by the tests that compare against it."""
    return pytest.importorskip("tensorflow")


@pytest.fixture
def save_v2(tf) -> Callable[[Path, Mapping[str, np.ndarray]], Path]:
    """Write tensors with TF's own SaveV2 op under exactly the given names; returns the prefix."""

    def save(prefix: Path, tensors: Mapping[str, np.ndarray]) -> Path:
        names = list(tensors)
        tf.raw_ops.SaveV2(
            prefix=str(prefix),
            tensor_names=names,
            shape_and_slices=[""] * len(names),
            tensors=[tf.constant(tensors[name]) for name in names],
        )
        return prefix

    return save


@pytest.fixture
def tensors() -> dict[str, np.ndarray]:
    """One small random tensor of every dtype the reader supports, plus 0-d and empty ones."""
    import ml_dtypes

    rng = np.random.default_rng(1234)
    normal = rng.standard_normal
    return {
        "float16": normal((2, 3)).astype(np.float16),
        "float32": normal((3, 4, 5)).astype(np.float32),
        "float64": normal((7,)),
        "bfloat16": normal((4, 2)).astype(ml_dtypes.bfloat16),
        "int8": rng.integers(-128, 128, (9,), dtype=np.int8),
        "int16": rng.integers(-(2**15), 2**15, (3, 3), dtype=np.int16),
        "int32": rng.integers(-(2**31), 2**31, (5,), dtype=np.int32),
        "int64": rng.integers(-(2**63), 2**63 - 1, (2, 2), dtype=np.int64),
        "uint8": rng.integers(0, 256, (6,), dtype=np.uint8),
        "uint16": rng.integers(0, 2**16, (6,), dtype=np.uint16),
        "uint32": rng.integers(0, 2**32, (6,), dtype=np.uint32),
        "uint64": rng.integers(0, 2**64 - 1, (6,), dtype=np.uint64),
        "bool": rng.integers(0, 2, (2, 5)).astype(bool),
        "complex64": (normal((3,)) + 1j * normal((3,))).astype(np.complex64),
        "complex128": normal((2, 2)) + 1j * normal((2, 2)),
        "scalar/float32": np.array(normal(), dtype=np.float32),
        "scalar/int64": np.array(-5, dtype=np.int64),
        "empty/float32": np.zeros((0, 3), dtype=np.float32),
        "empty/complex128": np.zeros((2, 0, 1), dtype=np.complex128),
    }
