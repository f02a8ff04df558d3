"""Two torchrun processes (gloo, CPU) compute the same FVD as one process, each on its own share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
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
    """tf and stylegan-v (random offsets seeded per video, not per rank): the same FVD to 1e-12; the
    streaming ``FVD`` fed each rank's videos (sums all-reduced) equals the one-process ``compute`` to
    float64 rounding (tf's value is float32-rounded, as TF-GAN's: one float32 step at most)."""
    two = _torchrun(tmp_path / "two.json")
    one = run()
    assert two["world"] == 2 and one["world"] == 1
    assert two["shares"] == [[0, 2, 4, 6], [1, 3, 5]]
    for protocol, value in one["fvd"].items():
        assert value > 0 and two["fvd"][protocol] == pytest.approx(value, rel=1e-12)
    for protocol, rel in (("tf", 1.2e-7), ("stylegan-v", 1e-12)):
        want = one["clips"][protocol]
        assert want > 0 and two["clips"][protocol] == pytest.approx(want, rel=1e-12)
        assert one["streaming"][protocol] == pytest.approx(want, rel=rel)
        assert two["streaming"][protocol] == pytest.approx(want, rel=rel)


@pytest.mark.slow
def test_two_processes_equal_one_with_i3d(tmp_path, fvd_weights):
    """DeepMind's I3D (≈ 2 minutes on two cores): equal to float32 rounding of the features."""
    two = _torchrun(tmp_path / "two.json", str(fvd_weights))
    one = run(str(fvd_weights))
    for protocol, value in one["fvd"].items():
        assert two["fvd"][protocol] == pytest.approx(value, rel=1e-5)


@pytest.mark.slow
def test_command_under_torchrun(tmp_path, fvd_weights, video_sets):
    """`torchrun --nproc_per_node=2 -m converter fvd … --json`: rank 0 prints what one process prints."""
    np.save(tmp_path / "real.npy", video_sets["real"][:3])
    np.save(tmp_path / "fake.npy", video_sets["fake"][:3])
    args = ["fvd", str(tmp_path / "real.npy"), str(tmp_path / "fake.npy"), "--weights", str(fvd_weights), "--json"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "converter"]
    two = subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=900, check=True)
    one = subprocess.run(
        [sys.executable, "-m", "converter", *args], capture_output=True, text=True, env=env, check=True
    )
    assert one.returncode == 0, one.stderr[-2000:]
    a, b = json.loads(two.stdout.strip().splitlines()[-1]), json.loads(one.stdout)
    assert (a["n_real"], a["n_fake"]) == (b["n_real"], b["n_fake"]) == (3, 3)
    assert a["fvd"] == pytest.approx(b["fvd"], rel=1e-5)
