"""Every setting of a fine-tuning run, checked before anything is loaded, and recorded in its checkpoints.

Batches: ``batch_size`` clips per process and step of the DataLoader; gradients of ``accumulate``
such batches are summed before each optimizer step, so one step sees
``batch_size * processes * accumulate`` clips (the global batch).
Dropout: ``keep_prob`` is the probability of *keeping* a unit, as TF's ``dropout_keep_prob`` in
DeepMind's I3D (1.0: no dropout); the PyTorch model's ``dropout`` is the drop rate, ``1 - keep_prob``.
BatchNorm: ``bn="batch"`` normalises the trained blocks by batch statistics (over all processes);
their running statistics, used for evaluation, follow with ``bn_momentum`` 0.1 (PyTorch's default)
rather than I3D's 0.001, which would leave them far behind the retrained blocks in a short run.
``bn="frozen"`` keeps every BatchNorm on its running statistics (for batches of one or two clips).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from converter.errors import ConversionError
from converter.finetune.data import STREAMS, check_clip_size
from converter.finetune.freeze import BN_MODES, DEFAULT_TRAIN_FROM, split_blocks

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "step", "constant")
DEFAULT_LR = {"sgd": 0.01, "adamw": 1e-3}
DEFAULT_WEIGHT_DECAY = {"sgd": 1e-4, "adamw": 0.05}
# May differ when a run is resumed: they change how it runs, not what it computes.
RESUME_MAY_CHANGE = frozenset({"workers", "device", "save_every", "deterministic"})


@dataclass(frozen=True)
class TrainConfig:
    data: Path
    classes: Path
    out: Path
    weights: Path
    stream: str = "rgb"
    flow_weights: Path | None = None
    cross_modality: bool = False
    train_from: str = DEFAULT_TRAIN_FROM
    epochs: int = 10
    batch_size: int = 4
    accumulate: int = 1
    clip_frames: int = 64
    crop: int = 224
    flip: bool = True
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float | None = None
    schedule: str = "cosine"
    warmup_steps: int = 0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    keep_prob: float = 0.5
    bn: str = "batch"
    bn_momentum: float = 0.1
    amp: bool | None = None
    workers: int = 2
    seed: int = 0
    deterministic: bool = False
    save_every: int = 0
    device: str = "auto"
    train_split: str = "train"
    val_split: str = "val"

    def __post_init__(self) -> None:
        choices = {"stream": STREAMS, "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "bn": BN_MODES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConversionError(None, f"{name} {getattr(self, name)!r} is not one of {', '.join(allowed)}")
        positive = ("epochs", "batch_size", "accumulate")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConversionError(None, f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "save_every", "workers"):
            if getattr(self, name) < 0:
                raise ConversionError(None, f"{name} must not be negative, got {getattr(self, name)}")
        if not 0 < self.keep_prob <= 1:
            raise ConversionError(None, f"keep_prob is the dropout keep rate, in (0, 1]; got {self.keep_prob}")
        if not 0 <= self.bn_momentum <= 1:
            raise ConversionError(None, f"bn_momentum must be in [0, 1], got {self.bn_momentum}")
        if self.lr is not None and not self.lr > 0:
            raise ConversionError(None, f"lr must be positive, got {self.lr}")
        if self.stream == "joint" and self.flow_weights is None:
            raise ConversionError(
                None, "the joint stream needs --flow-weights (or the same RGB file with --cross-modality)"
            )
        if self.stream != "joint" and self.flow_weights is not None:
            raise ConversionError(None, "--flow-weights is for --stream joint; give the weights with --weights")
        split_blocks(self.train_from)
        check_clip_size(self.clip_frames, self.crop)

    @property
    def streams(self) -> tuple[str, ...]:
        return STREAMS[self.stream]

    def weights_by_stream(self) -> dict[str, Path]:
        if self.stream == "joint":
            return {"rgb": self.weights, "flow": self.flow_weights}
        return {self.stream: self.weights}

    def resolved(self) -> TrainConfig:
        """The optimizer's default learning rate and weight decay filled in."""
        return replace(
            self,
            lr=DEFAULT_LR[self.optimizer] if self.lr is None else self.lr,
            weight_decay=DEFAULT_WEIGHT_DECAY[self.optimizer] if self.weight_decay is None else self.weight_decay,
        )

    def record(self) -> dict[str, Any]:
        """JSON-able settings, as stored in checkpoints."""
        return {
            k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
            for k, v in asdict(self).items()
        }

    def check_resumable(self, recorded: dict[str, Any], path: Path) -> None:
        """Refuse to resume a run made with other settings (the result would be neither run)."""
        mine = self.record()
        for field in fields(self):
            name = field.name
            if name not in RESUME_MAY_CHANGE and recorded.get(name) != mine[name]:
                raise ConversionError(
                    path, f"made with {name}={recorded.get(name)!r}, now {mine[name]!r}; resume with the same settings"
                )
