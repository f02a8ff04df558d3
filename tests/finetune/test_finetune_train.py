"""Fine-tuning runs on a small generated dataset with the real converted weights.

The runs are short (2 epochs of 4 clips of 9 frames): they show the mechanics, not accuracy (see
``test_finetune_end_to_end``). Classes are ``up`` and ``down``, which a horizontal flip keeps, so the
default flip augmentation is on.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import signal
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import converter
from converter.api import read_weights
from converter.cli import main
from converter.finetune.checkpoint import LAST
from converter.finetune.freeze import split_blocks

CLASSES = ("up", "down")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, helpers: SimpleNamespace, rgb_weights: Path) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("small")
    classes = helpers.write_dataset(root / "pre", {"train": 2, "val": 1}, frames=10, classes=CLASSES)
    return SimpleNamespace(root=root, data=root / "pre", classes=classes, weights=rgb_weights)


def args(small: SimpleNamespace, out: Path, *extra: str) -> list[str]:
    common = ["--epochs", "2", "--batch-size", "2", "--clip-frames", "9", "--workers", "1"]
    paths = ["--data", small.data, "--classes", small.classes, "--weights", small.weights, "--out", out]
    return [*map(str, paths), *common, *extra]


# A: AdamW with dropout (keep 0.5), for resuming; B: SGD without dropout, for torchrun (dropout masks are
# drawn per process, so only a run without dropout can equal its single-process twin).
RUN_A = ("--optimizer", "adamw", "--keep-prob", "0.5")
RUN_B = ("--optimizer", "sgd", "--lr", "0.05", "--keep-prob", "1")


def finetune_here(*argv: str) -> str:
    """The command in this process, on one thread like the subprocess runs; its output."""
    out, threads = io.StringIO(), torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with contextlib.redirect_stdout(out):
            code = main(["finetune", *argv])
    finally:
        torch.set_num_threads(threads)
    assert code == 0, out.getvalue()
    return out.getvalue()


@pytest.fixture(scope="module")
def run_a(small: SimpleNamespace) -> Path:
    out = small.root / "run_a"
    finetune_here(*args(small, out, *RUN_A))
    return out


@pytest.fixture(scope="module")
def run_b(small: SimpleNamespace) -> Path:
    out = small.root / "run_b"
    finetune_here(*args(small, out, *RUN_B))
    return out


def epochs(out: Path) -> list[dict]:
    """Per-epoch metrics without the wall time."""
    rows = json.loads((out / "metrics.json").read_text())["epochs"]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_outputs(run_a: Path) -> None:
    rows = epochs(run_a)
    assert [row["epoch"] for row in rows] == [1, 2]
    assert all(len(row["confusion"]) == 2 and sum(map(sum, row["confusion"])) == 2 for row in rows)
    assert len((run_a / "metrics.csv").read_text().splitlines()) == 3
    assert (run_a / "curves.png").read_bytes().startswith(b"\x89PNG")
    model = converter.load_model(run_a / "last_rgb.safetensors")
    assert model.labels == list(CLASSES) and model.num_classes == 2
    assert model.metadata["epoch"] == "2" and model.metadata["train_from"] == "Mixed_5b"
    best = converter.load_model(run_a / "best_rgb.safetensors")
    assert float(best.metadata["val_top1"]) == max(row["val_top1"] for row in rows)
    state = torch.load(run_a / LAST, weights_only=True)
    assert (state["epoch"], state["micro"], state["step"]) == (2, 0, 4)
    assert state["optimizer"]["state"], "the optimizer state is saved for resuming"


@pytest.mark.parametrize("run", ["run_a", "run_b"])
def test_frozen_blocks_are_bit_identical(run: str, request: pytest.FixtureRequest, small: SimpleNamespace) -> None:
    out = request.getfixturevalue(run)
    initial, _ = read_weights(small.weights)
    frozen, _ = split_blocks("Mixed_5b")
    for name in ("last_rgb.safetensors", "best_rgb.safetensors"):
        after, _ = read_weights(out / name)
        assert set(after) == set(initial), name
        for key, value in after.items():
            block = key.split(".")[0]
            if block in frozen:
                assert torch.equal(value, initial[key]), f"{name}: frozen {key} changed"
    after, _ = read_weights(out / "last_rgb.safetensors")
    for suffix in ("conv.weight", "bn.bias", "bn.running_mean", "bn.running_var"):
        key = f"Mixed_5b.Branch_0.Conv3d_0a_1x1.{suffix}"
        assert not torch.equal(after[key], initial[key]), f"trained {key} did not change"


def test_resume_after_sigkill_matches_an_uninterrupted_run(
    small: SimpleNamespace, run_a: Path, helpers: SimpleNamespace
) -> None:
    out = small.root / "killed"
    command = helpers.finetune_command(*args(small, out, *RUN_A, "--save-every", "1"))
    process = subprocess.Popen(
        command, env=helpers.subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seen = []
    with process:
        for line in process.stdout:
            seen.append(line)
            if line.startswith("epoch 2/2 step 1/2"):  # printed once that step's state is saved
                process.send_signal(signal.SIGKILL)
                break
        process.stdout.close()
        process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL, "".join(seen)
    state = torch.load(out / LAST, weights_only=True)
    assert (state["epoch"], state["micro"]) == (1, 1), "killed mid-epoch, after one of its two batches"
    assert len(epochs(out)) == 1
    log = finetune_here(*args(small, out, *RUN_A, "--resume"))
    assert "resuming" in log and "epoch 2, 1 batches in" in log
    assert not any(line.startswith("epoch 1/2") for line in log.splitlines())
    resumed, _ = read_weights(out / "last_rgb.safetensors")
    uninterrupted, _ = read_weights(run_a / "last_rgb.safetensors")
    if not torch.cuda.is_available():  # on CPU bit for bit
        assert epochs(out) == epochs(run_a)
        assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
        return
    # cuDNN's backward is not deterministic: a resumed run differs in rounding (on an H200 the resumed and
    # the uninterrupted run's epoch-1 losses differed by 4e-4 relative, their weights by 6.4e-3 relative L2).
    for got, want in zip(epochs(out), epochs(run_a), strict=True):
        assert got == pytest.approx(want, rel=1e-2)
    worst = max(float((resumed[k] - uninterrupted[k]).norm() / uninterrupted[k].norm()) for k in uninterrupted)
    assert worst <= 3e-2, f"worst relative L2 {worst:.1e} (6.4e-3 on an H200)"


def test_torchrun_two_processes_match_one(small: SimpleNamespace, run_b: Path, helpers: SimpleNamespace) -> None:
    out = small.root / "torchrun"
    argv = args(small, out, *RUN_B, "--workers", "0")
    argv[argv.index("--batch-size") + 1] = "1"  # 2 processes x 1 clip = the global batch of 2 of run B
    done = helpers.run_command(helpers.finetune_command(*argv, processes=2))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("epoch 2/2 step 2/2") == 1, "one process prints"
    two, one = epochs(out), epochs(run_b)
    for a, b in zip(two, one, strict=True):
        assert (
            a["confusion"] == b["confusion"] and a["val_top1"] == b["val_top1"] and a["train_top1"] == b["train_top1"]
        )
        for key in ("train_loss", "val_loss"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), key
    distributed, _ = read_weights(out / "last_rgb.safetensors")
    single, _ = read_weights(run_b / "last_rgb.safetensors")
    for key, value in single.items():
        torch.testing.assert_close(distributed[key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_evaluate_and_predict_use_the_finetuned_model(
    small: SimpleNamespace, run_a: Path, helpers: SimpleNamespace, capsys: pytest.CaptureFixture
) -> None:
    best = run_a / "best_rgb.safetensors"
    report = small.root / "eval.json"
    argv = ["--data", small.data, "--split", "val", "--weights", best, "--clip-frames", "9", "--json", report]
    assert main(["evaluate", *map(str, argv)]) == 0
    scores = json.loads(report.read_text())
    row = next(r for r in epochs(run_a) if r["epoch"] == int(converter.load_model(best).metadata["epoch"]))
    assert scores["clips"] == 2 and scores["labels"] == list(CLASSES)
    assert scores["top1"] == row["val_top1"] and scores["confusion"] == row["confusion"]
    assert scores["loss"] == pytest.approx(row["val_loss"], rel=1e-5)
    assert "top-1" in capsys.readouterr().out

    clip = next((small.data / "val" / "down").iterdir())
    video = helpers.write_video(
        small.root / "down.mp4", np.round((np.load(clip / "rgb.npy") + 1) * 127.5).astype(np.uint8)
    )
    for source in (clip, video):
        assert main(["predict", str(source), "--weights", str(best), "--json"]) == 0
        top = json.loads(capsys.readouterr().out)["top"]
        assert sorted(t["label"] for t in top) == sorted(CLASSES)
        assert sum(t["probability"] for t in top) == pytest.approx(1.0, abs=1e-5)
        assert top[0]["probability"] >= top[1]["probability"]


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from converter.models.i3d import InceptionI3d
    from converter.writers import write_weights

    path = tmp_path_factory.mktemp("random") / "i3d.safetensors"
    config = json.dumps({"num_classes": 400, "in_channels": 3})
    write_weights(path, InceptionI3d().state_dict(), {"architecture": "i3d", "config": config})
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> SimpleNamespace:
    """A valid layout of one-frame clips (checks only: nothing here is trained on)."""
    for split, label in (("train", "up"), ("train", "down"), ("val", "up")):
        folder = tmp_path / "pre" / split / label / "a"
        folder.mkdir(parents=True)
        np.save(folder / "rgb.npy", np.zeros((1, 224, 224, 3), np.float32))
    (tmp_path / "classes.txt").write_text("up\ndown\n")
    return SimpleNamespace(root=tmp_path, data=tmp_path / "pre", classes=tmp_path / "classes.txt")


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda root: shutil.rmtree(root / "pre/train/down/a"), r"pre/train/down: empty class folder"),
        (lambda root: (root / "pre/train/sideways/a").mkdir(parents=True), r"sideways: class not listed"),
        (
            lambda root: np.save(root / "pre/val/up/a/rgb.npy", np.zeros((4, 224, 224, 2), np.float32)),
            r"pre/val/up/a/rgb.npy: shape \(4, 224, 224, 2\), expected \(T, H, W, 3\)",
        ),
        (lambda root: (root / "w.safetensors").unlink(), r"w.safetensors: no such weights file"),
        (lambda root: (root / "classes.txt").write_text("up\n"), r"train/down: class not listed"),
    ],
)
def test_bad_input_stops_before_training(
    tiny: SimpleNamespace, random_weights: Path, spoil, message: str, capsys: pytest.CaptureFixture
) -> None:
    weights = tiny.root / "w.safetensors"
    shutil.copy(random_weights, weights)
    spoil(tiny.root)
    argv = ["--data", tiny.data, "--classes", tiny.classes, "--weights", weights, "--out", tiny.root / "out"]
    assert main(["finetune", *map(str, argv), "--clip-frames", "9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert not (tiny.root / "out" / LAST).exists() and not (tiny.root / "out" / "metrics.csv").exists()


def test_an_existing_run_is_not_overwritten(small: SimpleNamespace, run_b: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["finetune", *args(small, run_b, *RUN_B)]) == 2
    assert "holds a training run: --resume to continue it, --force to start over" in capsys.readouterr().err
    argv = args(small, run_b, *RUN_B, "--resume")
    argv[argv.index("--lr") + 1] = "0.5"
    assert main(["finetune", *argv]) == 2
    assert "made with lr=0.05, now 0.5" in capsys.readouterr().err


def test_joint_streams_train_together_and_evaluate_fused(small: SimpleNamespace, capsys: pytest.CaptureFixture) -> None:
    out = small.root / "joint"
    argv = args(small, out, "--stream", "joint", "--flow-weights", str(small.weights), "--cross-modality")
    argv[argv.index("--epochs") + 1] = "1"
    finetune_here(*argv)
    rgb, flow = (converter.load_model(out / f"last_{s}.safetensors") for s in ("rgb", "flow"))
    assert (rgb.in_channels, flow.in_channels) == (3, 2) and rgb.labels == flow.labels == list(CLASSES)
    report = out / "eval.json"
    weights = [str(out / "last_flow.safetensors"), str(out / "last_rgb.safetensors")]
    repeated = [arg for path in weights for arg in ("--weights", path)]  # one file per --weights, flow first
    # On a GPU finetune validates under bf16 autocast (--amp's default there): evaluate in bf16 too, to bf16's
    # rounding (measured on an H200: fp32 evaluate was 9e-4 from the bf16 validation loss).
    gpu = torch.cuda.is_available()
    precision, rel = ("bf16", 1e-2) if gpu else ("fp32", 1e-5)
    evaluate = ["evaluate", "--data", str(small.data), *repeated, "--clip-frames", "9", "--precision", precision]
    assert main([*evaluate, "--json", str(report)]) == 0
    capsys.readouterr()
    scores, row = json.loads(report.read_text()), epochs(out)[0]
    assert scores["streams"] == ["rgb", "flow"]
    assert scores["confusion"] == row["confusion"] and scores["loss"] == pytest.approx(row["val_loss"], rel=rel)
