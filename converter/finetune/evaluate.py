"""Scoring a model on a split, shared by the per-epoch validation and ``python -m converter evaluate``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch
from torch import nn
from torch.utils.data import DataLoader

from converter.finetune.data import ClipDataset, shard
from converter.finetune.distributed import Context, sum_all
from converter.finetune.metrics import Tally


def autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on GPU when ``amp``; nothing otherwise (bf16 needs no loss scaling)."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()


def to_device(inputs: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {name: tensor.to(device, non_blocking=True) for name, tensor in inputs.items()}


def eval_loader(dataset: ClipDataset, context: Context, batch_size: int, workers: int) -> DataLoader:
    """This process's share of the clips (no clip twice, none left out), in order."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=shard(len(dataset), context.rank, context.world),
        num_workers=workers,
        pin_memory=context.device.type == "cuda",
    )


def evaluate(model: nn.Module, batches: Iterable, num_classes: int, context: Context, *, amp: bool = False) -> Tally:
    """Loss, top-1/top-5 and confusion over every process's batches (``model`` unwrapped from DDP: the
    processes may hold different numbers of batches, and DDP's forward would wait for the others)."""
    model.eval()
    tally = Tally.empty(num_classes, context.device)
    with torch.no_grad(), autocast(context.device, amp):
        for inputs, labels in batches:
            tally.add(model(to_device(inputs, context.device)), labels.to(context.device))
    sum_all(tally.confusion, context)
    sum_all(tally.sums, context)
    return tally
