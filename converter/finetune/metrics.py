"""Scores of a split (loss, top-1, top-5, confusion matrix) and the run's metrics files and curves.

``Tally`` holds sums only, so the tallies of several processes add up (``sum_all``) to the exact
scores of the whole split. Files: ``metrics.csv`` (one row per epoch), ``metrics.json`` (the same,
with each epoch's confusion matrix), ``confusion.csv`` (the latest epoch's, rows = true class) and
``curves.png`` (loss and accuracy per epoch).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

CSV_FIELDS = ("epoch", "lr", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "seconds")


@dataclass
class Tally:
    """Running sums over clips: loss, top-1 and top-5 hits, and the (true, predicted) confusion counts."""

    confusion: torch.Tensor  # (N, N) int64
    sums: torch.Tensor  # float64: loss, top-1 hits, top-5 hits, clips

    @classmethod
    def empty(cls, num_classes: int, device: torch.device | str = "cpu") -> Tally:
        return cls(
            torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device),
            torch.zeros(4, dtype=torch.float64, device=device),
        )

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        logits = logits.detach().float()
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hits = top == labels[:, None]
        loss = F.cross_entropy(logits, labels, reduction="sum")
        counts = [hits[:, 0].sum(), hits.any(1).sum(), torch.tensor(len(labels), device=labels.device)]
        self.sums += torch.stack([loss.double(), *(c.double() for c in counts)]).to(self.sums)
        n = self.confusion.shape[0]
        self.confusion += torch.bincount(labels * n + top[:, 0], minlength=n * n).view(n, n)

    def scores(self) -> dict[str, Any]:
        loss, top1, top5, clips = self.sums.tolist()
        clips = max(clips, 1.0)
        return {"loss": loss / clips, "top1": top1 / clips, "top5": top5 / clips, "clips": int(self.sums[3])}


def write_metrics(out: Path, history: list[dict[str, Any]], labels: list[str]) -> None:
    """Rewrite the metrics files and plot from the whole history (so a resumed run's files are complete)."""
    rows = io.StringIO()
    writer = csv.DictWriter(rows, CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    _write_text(out / "metrics.csv", rows.getvalue())
    _write_text(out / "metrics.json", json.dumps({"labels": labels, "epochs": history}, indent=1) + "\n")
    if history:
        confusion = io.StringIO()
        table = csv.writer(confusion, lineterminator="\n")
        table.writerow(["true \\ predicted", *labels])
        table.writerows([label, *row] for label, row in zip(labels, history[-1]["confusion"], strict=True))
        _write_text(out / "confusion.csv", confusion.getvalue())
        plot_curves(out / "curves.png", history)


def plot_curves(path: Path, history: list[dict[str, Any]]) -> None:
    """Loss (train, val) and accuracy (train top-1, val top-1, val top-5) against epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, (loss, accuracy) = plt.subplots(1, 2, figsize=(10, 4))
    loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    loss.plot(epochs, [r["val_loss"] for r in history], "o-", label="val")
    loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    for key, name in (("train_top1", "train top-1"), ("val_top1", "val top-1"), ("val_top5", "val top-5")):
        accuracy.plot(epochs, [r[key] for r in history], "o-", label=name)
    accuracy.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02), title="accuracy")
    for axes in (loss, accuracy):
        axes.legend()
        axes.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
