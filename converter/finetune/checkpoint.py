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
    """A state written by ``save_state``: tensors and plain data only, read through the restricted unpickler
    (``readers.torch_pickle``); any other object in it is refused by where it sits."""
    from converter.readers.torch_pickle import foreign_paths, load_file

    state = load_file(path)
    if not isinstance(state, dict):
        raise ConversionError(path, "not a training state (finetune writes last.state.pt and best.state.pt)")
    missing = {"config", "epoch", "micro", "step", "model", "optimizer", "history"} - set(state)
    if missing:
        raise ConversionError(path, f"not a training state: no {sorted(missing)[0]!r}")
    foreign = foreign_paths(state)
    if foreign:
        raise ConversionError(path, f"a training state holds plain data only, this one {foreign[0]}")
    return state
