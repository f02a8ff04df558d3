"""Settings are checked up front; the learning rate follows the schedule; resuming needs the same settings."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path

import pytest

from converter.errors import ConversionError
from converter.finetune.config import TrainConfig
from converter.finetune.train import lr_at

BASE = TrainConfig(data=Path("d"), classes=Path("c.txt"), out=Path("o"), weights=Path("w.safetensors"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stream": "depth"}, "stream 'depth' is not one of rgb, flow, joint"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"keep_prob": 0.0}, r"keep_prob is the dropout keep rate, in \(0, 1\]"),
        ({"keep_prob": 1.5}, "keep_prob"),
        ({"stream": "joint"}, "joint stream needs --flow-weights"),
        ({"flow_weights": Path("f")}, "--flow-weights is for --stream joint"),
        ({"train_from": "Mixed_9z"}, "unknown endpoint 'Mixed_9z'"),
        ({"clip_frames": 8}, "too short"),
        ({"crop": 256}, "193..224"),
        ({"lr": -1.0}, "lr must be positive"),
    ],
)
def test_bad_settings_are_refused(change: dict, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        replace(BASE, **change)


def test_optimizer_defaults() -> None:
    assert (BASE.resolved().lr, BASE.resolved().weight_decay) == (0.01, 1e-4)
    adamw = replace(BASE, optimizer="adamw").resolved()
    assert (adamw.lr, adamw.weight_decay) == (1e-3, 0.05)
    assert replace(BASE, lr=0.5).resolved().lr == 0.5


def test_schedules() -> None:
    config = replace(BASE, lr=1.0, warmup_steps=4).resolved()
    rates = [lr_at(config, step, 40, 10) for step in range(40)]
    assert rates[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a > b for a, b in itertools.pairwise(rates[4:])) and rates[-1] < 0.01
    assert rates[4 + 18] == pytest.approx(0.5 * (1 + math.cos(math.pi * 18 / 36)))
    step = replace(config, schedule="step", warmup_steps=0, milestones=(2, 3))
    assert [lr_at(step, s, 40, 10) for s in (0, 19, 20, 29, 30, 39)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    constant = replace(config, schedule="constant", warmup_steps=0)
    assert {lr_at(constant, s, 40, 10) for s in range(40)} == {1.0}


def test_resume_needs_the_same_settings() -> None:
    recorded = BASE.record()
    replace(BASE, workers=7, device="cpu", save_every=3).check_resumable(recorded, Path("last.state.pt"))
    with pytest.raises(ConversionError, match=r"last.state.pt: made with lr=None, now 0.1"):
        replace(BASE, lr=0.1).check_resumable(recorded, Path("last.state.pt"))
    with pytest.raises(ConversionError, match="made with weights='w.safetensors', now 'x.safetensors'"):
        replace(BASE, weights=Path("x.safetensors")).check_resumable(recorded, Path("last.state.pt"))
