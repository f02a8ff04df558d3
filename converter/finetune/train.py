"""The fine-tuning loop: the same code on one process or many (``torchrun``, DistributedDataParallel).

Per optimizer step: ``accumulate`` batches from a DistributedSampler, cross-entropy on the logits
(summed over the step's clips, divided by their number: the mean over the global batch, also when
the epoch's last step is short), the learning rate of the schedule, one optimizer step. Per epoch:
validation (top-1, top-5, confusion matrix), metrics files, ``last``/``best`` checkpoints.

Reproducible: crops depend on (seed, epoch, clip), the shuffle on (seed, epoch), dropout is reseeded
from (seed, epoch, batch, rank) and the learning rate is a function of the step; so a run resumed
from ``last.state.pt``, even one saved mid-epoch, continues exactly where the killed one was.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from converter.errors import ConversionError
from converter.finetune import distributed
from converter.finetune.checkpoint import BEST, LAST, load_state, save_state
from converter.finetune.config import TrainConfig
from converter.finetune.data import ClipDataset, ResumableSampler, find_clips, load_classes
from converter.finetune.distributed import Context
from converter.finetune.evaluate import autocast, eval_loader, evaluate, to_device
from converter.finetune.freeze import freeze, split_blocks, train_mode
from converter.finetune.metrics import Tally, write_metrics
from converter.finetune.model import StreamSum, load_streams, save_stream
from converter.finetune.sync_bn import convert_sync_batchnorm


def train(config: TrainConfig, *, resume: bool = False, force: bool = False) -> list[dict[str, Any]]:
    """Fine-tune as ``config`` says; returns the metrics history (one dict per epoch)."""
    config = config.resolved()
    context = distributed.start(config.device)
    try:
        return _Run(config, context, resume=resume, force=force).fit()
    finally:
        distributed.stop(context)


def lr_at(config: TrainConfig, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """Learning rate of optimizer step ``step`` (0-based): linear warmup, then the schedule."""
    base = float(config.lr)
    if step < config.warmup_steps:
        return base * (step + 1) / config.warmup_steps
    if config.schedule == "cosine":
        span = max(total_steps - config.warmup_steps, 1)
        return base * 0.5 * (1 + math.cos(math.pi * (step - config.warmup_steps) / span))
    if config.schedule == "step":
        epoch = step // steps_per_epoch
        return base * config.gamma ** sum(epoch >= m for m in config.milestones)
    return base


class _Run:
    """One training run's objects, built (and every input checked) before the first step."""

    def __init__(self, config: TrainConfig, context: Context, *, resume: bool, force: bool) -> None:
        self.config, self.context = config, context
        self.classes = load_classes(config.classes)
        found = {
            split: find_clips(config.data, split, self.classes, config.streams, crop=config.crop, every_class=every)
            for split, every in ((config.train_split, True), (config.val_split, False))
        }
        self.state = self._previous_state(resume, force)
        if config.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)  # avg_pool3d's CUDA backward has none
            torch.backends.cudnn.benchmark = False
        torch.manual_seed(config.seed)  # the new classifier's initialisation, the same in every process
        self.model = load_streams(
            config.weights_by_stream(), self.classes, keep_prob=config.keep_prob, cross_modality=config.cross_modality
        )
        for stream in self.model.streams.values():
            freeze(stream, config.train_from, config.bn_momentum)
        if self.state:
            self.model.load_state_dict(self.state["model"])
        self.model.to(context.device)
        if context.world > 1 and config.bn == "batch":
            for stream in self.model.streams.values():
                for name in split_blocks(config.train_from)[1]:
                    convert_sync_batchnorm(stream.get_submodule(name))
        self.optimizer = _optimizer(self.model, config)
        if self.state:
            self.optimizer.load_state_dict(self.state["optimizer"])
        self.ddp: nn.Module = self.model
        if context.world > 1:
            ids = [context.device.index] if context.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.model, device_ids=ids)
        self.amp = context.device.type == "cuda" if config.amp is None else config.amp
        self.train_set = ClipDataset(
            found[config.train_split],
            config.streams,
            config.clip_frames,
            config.crop,
            train=True,
            flip=config.flip,
            seed=config.seed,
        )
        self.sampler = ResumableSampler(self.train_set, context.world, context.rank, config.seed)
        self.loader = DataLoader(
            self.train_set,
            batch_size=config.batch_size,
            sampler=self.sampler,
            num_workers=config.workers,
            pin_memory=context.device.type == "cuda",
        )
        val_set = ClipDataset(found[config.val_split], config.streams, config.clip_frames, config.crop, train=False)
        self.val_loader = eval_loader(val_set, context, config.batch_size, config.workers)
        # Clips per batch of this process through an epoch: the sampler pads every process to the same count.
        per_process = self.sampler.num_samples
        self.sizes = [min(config.batch_size, per_process - i) for i in range(0, per_process, config.batch_size)]
        self.steps_per_epoch = math.ceil(len(self.sizes) / config.accumulate)

    def _previous_state(self, resume: bool, force: bool) -> dict[str, Any] | None:
        out, path = self.config.out, self.config.out / LAST
        if resume and force:
            raise ConversionError(out, "--resume continues the run there, --force starts over: not both")
        if path.exists() and not (resume or force):
            raise ConversionError(out, "holds a training run: --resume to continue it, --force to start over")
        if self.context.main:
            out.mkdir(parents=True, exist_ok=True)
            if force:  # a crash before the first save must not resume the old run
                for name in (LAST, BEST):
                    (out / name).unlink(missing_ok=True)
        if not (resume and path.exists()):
            return None
        state = load_state(path)
        self.config.check_resumable(state["config"], path)
        if state.get("world") != self.context.world:
            raise ConversionError(
                path, f"saved by {state.get('world')} processes, resumed by {self.context.world}: use the same number"
            )
        return state

    def log(self, message: str) -> None:
        if self.context.main:
            print(message, flush=True)

    def fit(self) -> list[dict[str, Any]]:
        config, state = self.config, self.state or {}
        self.history: list[dict[str, Any]] = list(state.get("history", []))
        self.best: tuple[float, float] = tuple(state.get("best", (-1.0, math.inf)))
        epoch, micro, step = state.get("epoch", 0), state.get("micro", 0), state.get("step", 0)
        if state and epoch >= config.epochs:
            self.log(f"{config.out / LAST}: all {config.epochs} epochs are done")
        elif state:
            self.log(f"resuming {config.out / LAST}: epoch {epoch + 1}, {micro} batches in, step {step}")
        partial = state.get("partial")
        while epoch < config.epochs:
            started = time.perf_counter() - (partial["seconds"] if partial else 0.0)
            tally = Tally.empty(len(self.classes), self.context.device)
            if partial and self.context.main:  # saved summed over processes: count it once
                tally.confusion += partial["confusion"].to(tally.confusion)
                tally.sums += partial["sums"].to(tally.sums)
            step = self._train_epoch(epoch, micro, step, tally, started)
            self._finish_epoch(epoch, step, tally, time.perf_counter() - started)
            epoch, micro, partial = epoch + 1, 0, None
            self._save(epoch, 0, step)
        return self.history

    def _train_epoch(self, epoch: int, micro: int, step: int, tally: Tally, started: float) -> int:
        """Train from batch ``micro`` of ``epoch`` to its end; returns the optimizer step count."""
        config, sizes, k = self.config, self.sizes, self.config.accumulate
        total_steps = self.steps_per_epoch * config.epochs
        self.train_set.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        self.sampler.start = sum(sizes[:micro])
        for stream in self.model.streams.values():
            train_mode(stream, config.train_from, config.bn)
        group_loss = 0.0
        for index, (inputs, labels) in enumerate(self.loader, start=micro):
            group = range(index - index % k, min(index - index % k + k, len(sizes)))
            last_in_group = index == group[-1]
            torch.manual_seed(_seed(config.seed, epoch, index, self.context.rank))  # dropout
            labels = labels.to(self.context.device)
            sync = self.ddp.no_sync() if self.context.world > 1 and not last_in_group else contextlib.nullcontext()
            with sync:
                with autocast(self.context.device, self.amp):
                    logits = self.ddp(to_device(inputs, self.context.device))
                loss = F.cross_entropy(logits.float(), labels, reduction="sum") / sum(sizes[i] for i in group)
                loss.backward()
            tally.add(logits, labels)
            group_loss += loss.item()
            if not last_in_group:
                continue
            lr = lr_at(config, step, total_steps, self.steps_per_epoch)
            for param_group in self.optimizer.param_groups:
                param_group["lr"] = lr
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            step += 1
            if config.save_every and step % config.save_every == 0 and index + 1 < len(sizes):
                partial = Tally(tally.confusion.clone(), tally.sums.clone())
                distributed.sum_all(partial.confusion, self.context)
                distributed.sum_all(partial.sums, self.context)
                self._save(epoch, index + 1, step, partial, time.perf_counter() - started)
            in_epoch = step - epoch * self.steps_per_epoch
            self.log(f"epoch {epoch + 1}/{config.epochs} step {in_epoch}/{self.steps_per_epoch}: loss {group_loss:.4f}")
            group_loss = 0.0
        return step

    def _finish_epoch(self, epoch: int, step: int, tally: Tally, seconds: float) -> None:
        """Validate, record the epoch, write the metrics and the exported weights."""
        config, context = self.config, self.context
        distributed.sum_all(tally.confusion, context)
        distributed.sum_all(tally.sums, context)
        trained = tally.scores()
        val = evaluate(self.model, self.val_loader, len(self.classes), context, amp=self.amp)
        scores = val.scores()
        lr = self.optimizer.param_groups[0]["lr"]
        row = {
            "epoch": epoch + 1,
            "lr": lr,
            "train_loss": trained["loss"],
            "train_top1": trained["top1"],
            "val_loss": scores["loss"],
            "val_top1": scores["top1"],
            "val_top5": scores["top5"],
            "seconds": round(seconds, 2),
            "confusion": val.confusion.cpu().tolist(),
        }
        improved = (scores["top1"], -scores["loss"]) > (self.best[0], -self.best[1])
        if improved:
            self.best = (scores["top1"], scores["loss"])
        self.log(
            f"epoch {epoch + 1}/{config.epochs}: train loss {trained['loss']:.4f} top-1 {trained['top1']:.3f} | "
            f"val loss {scores['loss']:.4f} top-1 {scores['top1']:.3f} top-5 {scores['top5']:.3f} "
            f"({scores['clips']} clips) | {seconds:.1f} s{' | best' if improved else ''}"
        )
        if context.main:
            extra = {"finetuned_from": config.weights.name, "train_from": config.train_from, "epoch": str(epoch + 1)}
            extra["val_top1"] = f"{scores['top1']:.6f}"
            kinds = ("last", "best") if improved else ("last",)
            for kind in kinds:
                for stream, model in self.model.streams.items():
                    save_stream(config.out / f"{kind}_{stream}.safetensors", model, stream, extra)
        self.history.append(row)
        if context.main:
            write_metrics(config.out, self.history, self.classes)
        if improved:
            self._save(epoch + 1, 0, step, path=BEST)

    def _save(
        self, epoch: int, micro: int, step: int, partial: Tally | None = None, seconds: float = 0.0, path: str = LAST
    ) -> None:
        """Write the training state (main process only); ``partial``: the tallies of an unfinished epoch."""
        if not self.context.main:
            return
        state = {
            "config": self.config.record(),
            "world": self.context.world,
            "epoch": epoch,
            "micro": micro,
            "step": step,
            "best": self.best,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "history": self.history,
            "partial": None
            if partial is None
            else {"confusion": partial.confusion.cpu(), "sums": partial.sums.cpu(), "seconds": seconds},
        }
        save_state(self.config.out / path, state)


def _seed(*values: int) -> int:
    return int(np.random.SeedSequence(list(values)).generate_state(1)[0])


def _optimizer(model: StreamSum, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with momentum or AdamW over the trained parameters; no weight decay on biases (1-d tensors)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() > 1], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    return torch.optim.AdamW(groups, lr=config.lr)
