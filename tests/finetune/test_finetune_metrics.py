"""Scores add up over processes, and the metrics files say what happened."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from converter.finetune.metrics import Tally, write_metrics


def test_tally_scores_and_confusion() -> None:
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 7, (40,), generator=generator)
    logits = torch.randn(40, 7, generator=generator) + 1.5 * F.one_hot(labels, 7)  # right about half the time
    whole = Tally.empty(7)
    whole.add(logits, labels)
    halves = [Tally.empty(7), Tally.empty(7)]
    halves[0].add(logits[:13], labels[:13])
    halves[1].add(logits[13:], labels[13:])
    summed = Tally(halves[0].confusion + halves[1].confusion, halves[0].sums + halves[1].sums)
    predicted = logits.argmax(1)
    in_top5 = [int(label) in row.tolist() for row, label in zip(logits.topk(5, 1).indices, labels, strict=True)]
    for tally in (whole, summed):
        scores = tally.scores()
        assert scores["clips"] == 40
        assert scores["top1"] == int((predicted == labels).sum()) / 40
        assert scores["top5"] == sum(in_top5) / 40
        assert abs(scores["loss"] - F.cross_entropy(logits, labels).item()) < 1e-6
        for true, guess in zip(labels.tolist(), predicted.tolist(), strict=True):
            assert tally.confusion[true, guess] > 0
        assert tally.confusion.sum() == 40 and tally.confusion.diagonal().sum() == (predicted == labels).sum()


def test_top5_with_fewer_classes_counts_every_clip() -> None:
    tally = Tally.empty(3)
    tally.add(torch.tensor([[0.0, 1.0, 2.0], [3.0, 2.0, 1.0]]), torch.tensor([0, 0]))
    assert tally.scores()["top5"] == 1.0 and tally.scores()["top1"] == 0.5


def test_metrics_files(tmp_path: Path) -> None:
    labels = ["left", "right"]
    history = [
        {"epoch": e, "lr": 0.1 / e, "train_loss": 1 / e, "train_top1": e / 4, "val_loss": 1.2 / e,
         "val_top1": e / 5, "val_top5": 1.0, "seconds": 2.0, "confusion": [[e, 2], [1, 3]]}
        for e in (1, 2, 3)
    ]  # fmt: skip
    write_metrics(tmp_path, history, labels)
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["val_top1"]) for r in rows] == [0.2, 0.4, 0.6] and "confusion" not in rows[0]
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"labels": labels, "epochs": history}
    with open(tmp_path / "confusion.csv", newline="") as f:
        assert list(csv.reader(f)) == [["true \\ predicted", "left", "right"], ["left", "3", "2"], ["right", "1", "3"]]
    with Image.open(tmp_path / "curves.png") as image:
        assert image.format == "PNG" and image.size[0] > image.size[1] > 100
    assert not list(tmp_path.glob(".*"))
