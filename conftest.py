"""Shared fixtures: the official reference data, required in CI and skipped politely elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from converter.reference_data import ENV_VAR, HOW_TO_GET, reference_dir


@pytest.fixture(scope="session")
def kinetics_dir() -> Path:
    """``../shared/kinetics-i3d`` (or ``$KINETICS_I3D_DIR``); an error in CI, a skip elsewhere."""
    root = reference_dir()
    if root is None:
        message = f"kinetics-i3d reference data not found (${ENV_VAR}); {HOW_TO_GET}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root
