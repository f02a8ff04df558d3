"""Several processes on one output folder: torchrun ranks equal one process byte for byte, a failing
rank ends the torchrun job cleanly, independent jobs compute each video once, and a job killed with
SIGKILL is finished by a rerun without leftovers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

from converter.video import manifest
from converter.video.claims import HOST
from tests.video.failing_rank import MESSAGE
from tests.video.samples import moving_shapes, write_random_i3d

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--endpoint", "Conv3d_1a_7x7", "--clip", "8", "--stride", "4", "--quiet"]
NAMES = ["train/1", "train/3", "val/0", "val/2", "val/4"]
TORCHRUN = ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m")


@pytest.fixture(scope="module")
def jobs(tmp_path_factory, random_i3d_model) -> dict:
    """Five small videos in a tree (12 to 20 frames) and random RGB weights; ``command(out, *extra)``."""
    av = pytest.importorskip("av")
    root = tmp_path_factory.mktemp("jobs")
    for index, count in enumerate((12, 20, 14, 18, 16)):
        path = root / "data" / ("train" if index % 2 else "val") / f"{index}.mkv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as container:
            stream = container.add_stream("ffv1", rate=Fraction(25))
            stream.width, stream.height, stream.pix_fmt = 40, 32, "yuv444p"
            for frame in moving_shapes(count, 32, 40):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
    state = {k: v.numpy() for k, v in random_i3d_model.state_dict().items()}
    weights = write_random_i3d(root / "rgb.safetensors", state, 400, 3)

    def command(out: Path, *extra: str, launcher: tuple[str, ...] = ("-m", "converter")) -> list[str]:
        args = ["features", str(root / "data"), "--weights", str(weights), "--out", str(out), *ARGS, *extra]
        return [sys.executable, *launcher, *args]

    return {"root": root, "command": command, "env": _env()}


def _env() -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("WORLD_SIZE", None)
    env["OMP_NUM_THREADS"] = "1"  # torchrun's default for its ranks: the same arithmetic in every process
    return env


def outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.npy"))}


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.rglob("*") if p.suffix in (".tmp", ".claim", ".dead"))


def test_two_torchrun_ranks_equal_one_process(jobs, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run(jobs["command"](one, "--workers", "0"), env=jobs["env"], check=True, capture_output=True)
    done = subprocess.run(
        jobs["command"](two, "--workers", "0", launcher=(*TORCHRUN, "converter")),
        env=jobs["env"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rank 0: 3 done" in done.stdout and "rank 1: 2 done" in done.stdout
    assert len(outputs(one)) == 5 and outputs(two) == outputs(one)  # byte-identical features
    for name in outputs(one):
        meta = name[: -len(".npy")] + ".json"
        assert (one / meta).read_bytes() == (two / meta).read_bytes()
    ranks = {r["name"]: r["rank"] for r in manifest.read(two)}
    assert ranks == {"train/1": 0, "train/3": 1, "val/0": 0, "val/2": 1, "val/4": 0}  # round robin, sorted tree
    assert leftovers(two) == []


@pytest.mark.parametrize("fail_at", ["video", "end"])
def test_a_failing_rank_ends_the_torchrun_job_with_its_message(jobs, tmp_path, fail_at):
    """Rank 1 fails (``failing_rank``) while rank 0 is mid-video, or once both are done: torchrun stops
    rank 0 (SIGTERM), both clean up, and torchrun's summary names rank 1 as the root cause. The timeout
    only guards against a hang (gloo would wait 30 minutes)."""
    out = tmp_path / "out"
    command = jobs["command"](out, "--workers", "1", launcher=(*TORCHRUN, "tests.video.failing_rank"))
    env = {**jobs["env"], "FAIL_AT": fail_at}
    ended = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert ended.returncode != 0
    assert f"error: {MESSAGE}" in ended.stderr.splitlines()  # the failing rank's one line
    assert "rank 0: stopped by the launcher" in ended.stderr
    assert re.search(r"rank\s*:\s*1 \(local_rank", ended.stderr.split("Root Cause")[-1])  # torchrun's summary
    done = sorted(r["name"] for r in manifest.read(out))  # "end": rank 1 fails after its videos
    assert done == ([] if fail_at == "video" else NAMES) and len(outputs(out)) == len(done)
    assert f'File "{ROOT / "converter"}' not in ended.stderr  # no traceback through the product
    assert "SIGABRT" not in ended.stderr and "terminate called" not in ended.stderr  # groups destroyed
    assert leftovers(out) == []


def test_two_jobs_share_a_folder_and_a_killed_one_is_finished_by_a_rerun(jobs, tmp_path):
    out = tmp_path / "out"
    env = jobs["env"]
    paced = ("-m", "tests.video.paced_job")  # waits after its first video for the other job's first
    started = [
        subprocess.Popen(jobs["command"](out, "--workers", w, launcher=paced), env=env, stdout=subprocess.PIPE)
        for w in "01"
    ]
    for job in started:
        assert job.wait(timeout=600) == 0
    records = manifest.read(out)
    assert sorted(r["name"] for r in records) == NAMES  # each once
    assert {r["status"] for r in records} == {"done"} and leftovers(out) == []
    assert {(r["host"], r["pid"]) for r in records} == {(HOST, job.pid) for job in started}  # both did a share
    before = outputs(out)

    killed = subprocess.Popen(jobs["command"](out, "--workers", "1", "--force"), env=env, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not list(out.rglob(".*.tmp")) and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # until it writes a video's temporaries: mid-video
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert list(out.rglob("*.claim")), "killed before claiming anything"
    redone = len(manifest.read(out)) - len(records)
    rerun = subprocess.run(jobs["command"](out, "--workers", "0", "--force"), env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert leftovers(out) == [] and outputs(out) == before
    after = manifest.read(out)[len(records) + redone :]
    assert sorted(r["name"] for r in after) == sorted(r["name"] for r in records)  # --force: all, once each
