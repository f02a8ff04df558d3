"""Two torchrun processes (gloo, CPU) compute the same FVD as one process, each on its own share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fvd.distributed_worker import run

ROOT = Path(__file__).resolve().parents[2]


def _torchrun(out: Path, *extra: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    done = subprocess.run(
        [*command, str(ROOT / "tests" / "fvd" / "distributed_worker.py"), str(out), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def test_two_processes_equal_one(tmp_path):
    """tf and stylegan-v (random offsets seeded per video, not per rank): the same FVD to 1e-12."""
    two = _torchrun(tmp_path / "two.json")
    one = run()
    assert two["world"] == 2 and one["world"] == 1
    assert two["shares"] == [[0, 2, 4, 6], [1, 3, 5]]
    for protocol, value in one["fvd"].items():
        assert value > 0 and two["fvd"][protocol] == pytest.approx(value, rel=1e-12)


@pytest.mark.slow
def test_two_processes_equal_one_with_i3d(tmp_path, fvd_weights):
    """DeepMind's I3D (≈ 2 minutes on two cores): equal to float32 rounding of the features."""
    two = _torchrun(tmp_path / "two.json", str(fvd_weights))
    one = run(str(fvd_weights))
    for protocol, value in one["fvd"].items():
        assert two["fvd"][protocol] == pytest.approx(value, rel=1e-5)
