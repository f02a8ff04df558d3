"""A 2D ImageNet Inception-v1 inflated into our I3D: the paper's ImageNet initialisation.

Declarative like a conversion: one table per 2D layout under ``converter/mappings/inflate/`` (kept out of
``converter/mappings/*.toml``, so ``convert`` never picks one), run by the ordinary engine (read → map → verify →
write), each 2D kernel given I3D's time extent by an ``inflate`` op (7 for the stem, 3 for the 3x3
convs, 1 for the 1x1 ones). The init is the command's choice: ``bind_init`` sets it on every op.

* TF-slim ``InceptionV1/...`` checkpoints (``inception_v1_slim``): BatchNorm without gamma, eps 1e-3,
  as in I3D, so tensors map one to one.
* torchvision GoogLeNet state_dicts (``inception_v1_torchvision``): its BatchNorm has a gamma that I3D
  lacks; ``FoldedBatchNorm`` folds it into the conv before the table runs (the engine only renames and
  reshapes). Its pretrained ``transform_input`` maps ImageNet-normalised input to [-1, 1], so its weights
  expect I3D's own input range.

The ImageNet classifier (1001 classes for slim, 0 = background; 1000 for torchvision) is kept as I3D's
1x1x1 logits conv, so 2D == 3D reaches the class scores; ``replace_logits`` swaps it for fine-tuning.

What holds on a clip of one image repeated T times, eval mode (tests/inflate/test_inflate_inception.py):

* center init: every frame of every endpoint, logits included, equals 2D Inception-v1 computed with
  TF 'SAME' padding (TF-slim's own): the middle tap always lands on a real frame, whatever I3D's time
  strides, and max-pools pad with -inf.
* mean init: I3D pads time with zeros, so a frame equals the 2D response only where no zero frame
  reaches it through the convs before, a reach that grows with every 3x3x3 conv: for T = 64 no
  Mixed_5c frame is exact (T >= 101 for one), so the time-averaged logits never are.
* torchvision's own forward pads its 7x7 stride-2 stem by 3 on each side where TF 'SAME' pads an even
  side 2 before and 3 after, and pools with ceil_mode: it equals the TF-padded network only where both
  agree at every stride-2 layer (sides of 16k + 15: 63, 223); at 224 the stem samples the image on a
  grid one pixel off torchvision's (TF's grid: torchvision says its weights were ported from TensorFlow).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from converter.engine import Plan, PlanError, plan
from converter.errors import ConversionError
from converter.mapping import TABLES_DIR, Table, load_table
from converter.ops import INITS, Inflate
from converter.readers import Source, open_source

INFLATE_TABLES_DIR = TABLES_DIR / "inflate"


class FoldedBatchNorm:
    """A torchvision state_dict ``Source`` seen with each BatchNorm's gamma folded into the conv before it.

    ``bn(conv(x))`` with gamma equals ``bn(conv'(x))`` without it for ``w' = gamma * w`` (per output
    channel) and ``running_mean' = gamma * running_mean``, beta and running_var unchanged: exact up to one
    rounding per weight. Every ``<unit>.bn.weight`` needs ``<unit>.conv.weight`` and
    ``<unit>.bn.running_mean`` of its length (checked from shapes alone); the folded tensors keep their
    names, gamma disappears, and folding happens as each tensor is read.
    """

    format = "state-dict-bn-folded"

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.path = inner.path
        keys = set(inner.keys())
        self._gamma_of: dict[str, str] = {}  # folded key -> its gamma's key
        for gamma_key in sorted(key for key in keys if key.endswith(".bn.weight")):
            unit, gamma_shape = gamma_key.removesuffix(".bn.weight"), inner.shape(gamma_key)
            for key in (f"{unit}.conv.weight", f"{unit}.bn.running_mean"):
                shape = inner.shape(key) if key in keys else None
                if len(gamma_shape) != 1 or not shape or shape[0] != gamma_shape[0]:
                    found = "absent" if shape is None else f"shape {list(shape)}"
                    raise ConversionError(
                        f"{self.path}:{gamma_key}",
                        f"BatchNorm gamma of shape {list(gamma_shape)} cannot fold into {key} ({found})",
                    )
                self._gamma_of[key] = gamma_key
        self._keys = sorted(keys - set(self._gamma_of.values()))

    def files(self) -> list[Path]:
        return self.inner.files()

    def keys(self) -> list[str]:
        return list(self._keys)

    def shape(self, key: str) -> tuple[int, ...]:
        return self.inner.shape(key)

    def dtype(self, key: str) -> np.dtype:
        return self.inner.dtype(key)

    def read(self, key: str) -> np.ndarray:
        value = self.inner.read(key)
        if key not in self._gamma_of:
            return value
        gamma = self.inner.read(self._gamma_of[key]).astype(value.dtype, copy=False)
        return value * gamma.reshape(-1, *[1] * (value.ndim - 1))


# source format -> inflation table; a torchvision state_dict is read through FoldedBatchNorm
TABLES = {
    "tf-checkpoint": "inception_v1_slim",
    "tf-checkpoint-v1": "inception_v1_slim",
    "torch-state-dict": "inception_v1_torchvision",
    "safetensors": "inception_v1_torchvision",
}


def open_2d(path: Path) -> Source:
    """The 2D weights at ``path``: a TF-slim checkpoint (V2 prefix, or a V1 file such as TF-slim's 2016
    ``inception_v1.ckpt``), or a torchvision ``.pth``/``.safetensors``."""
    return open_source(path)


def bind_init(table: Table, init: str) -> Table:
    """``table`` with every inflate op set to ``init`` (a table spells I3D's "mean"; the user chooses)."""
    if init not in INITS:
        raise ValueError(f"init {init!r} is not one of {INITS}")

    def bound(ops: tuple) -> tuple:
        return tuple(dataclasses.replace(op, init=init) if isinstance(op, Inflate) else op for op in ops)

    pairs = tuple(dataclasses.replace(pair, ops=bound(pair.ops)) for pair in table.pairs)
    return dataclasses.replace(table, pairs=pairs)


def inflation_table(name: str, init: str) -> Table:
    """The inflation table ``name`` (``inception_v1_slim``, ``inception_v1_torchvision``) bound to ``init``."""
    return bind_init(load_table(INFLATE_TABLES_DIR / f"{name}.toml"), init)


def plan_inflation(source: Source, init: str) -> Plan:
    """The verified plan turning a 2D Inception-v1 into I3D tensors; any unaccounted key is an error."""
    name = TABLES.get(source.format)
    if name is None:
        raise ConversionError(
            source.path,
            f"a {source.format} file is not a 2D Inception-v1 (reads: TF-slim checkpoint, torchvision state_dict)",
        )
    if name == "inception_v1_torchvision":
        source = FoldedBatchNorm(source)
    try:
        the_plan = plan(source, inflation_table(name, init))
    except PlanError as err:
        raise ConversionError(source.path, f"{err.report.summary()}: {err.reason}") from None
    problems = the_plan.report.problems()
    if problems:
        details = "\n".join(the_plan.report.details())
        raise ConversionError(source.path, f"{the_plan.report.summary()}; refusing ({', '.join(problems)})\n{details}")
    return the_plan
