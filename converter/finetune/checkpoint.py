"""Training state on disk: everything a crashed run needs to go on as if it had never stopped.

``last.state.pt`` is rewritten at every epoch end (and every ``save_every`` optimizer steps) and
``best.state.pt`` when validation top-1 improves. Each holds the settings, progress (epoch,
micro-batches done in it, optimizer steps), the model's full state dict, the optimizer state, the
partial tallies of the current epoch and the metrics history. Writes are atomic (temporary file,
then rename), so a kill at any moment leaves the previous state readable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from converter.errors import ConversionError

LAST = "last.state.pt"
BEST = "best.state.pt"


def save_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_state(path: Path) -> dict[str, Any]:
    """A state written by ``save_state`` (tensors and plain data only: ``weights_only``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load fails in many ways on a damaged file
        raise ConversionError(path, f"not a readable training state: {type(err).__name__}: {err}") from None
    missing = {"config", "epoch", "micro", "step", "model", "optimizer", "history"} - set(state)
    if missing:
        raise ConversionError(path, f"not a training state: no {sorted(missing)[0]!r}")
    return state
