"""TensorFlow reference against our PyTorch model on one clip, endpoint by endpoint.

Each endpoint is measured three ways:

* *end to end*: both frameworks run the whole network from the clip, so the figure includes every
  fp32 rounding difference accumulated on the way;
* *layer alone*: our layer is fed TensorFlow's previous endpoint, so the figure is that layer's own
  difference;
* *TF noise floor*: TensorFlow against itself when every input value moves by one ulp — how much
  this network, with these weights, amplifies fp32 rounding. No fp32 implementation that sums in a
  different order than TF's own kernels can be expected closer to TF than this.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from converter.tf_reference import ENDPOINTS, TFI3D

ULP_SEED = 0


@dataclass(frozen=True)
class Diff:
    """One endpoint: max |Δ|, max |Δ| / max |ref| and cosine end to end; layer alone (also the share of
    its values bit-identical to TF's); TF's noise floor."""

    shape: tuple[int, ...]
    max_abs: float
    rel: float
    cosine: float
    alone_abs: float
    alone_rel: float
    alone_bit_equal: float
    floor_abs: float
    floor_rel: float
    ref_max: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    """A clip's endpoints compared; logits (B, num_classes) of TF, ours, and TF on the nudged input."""

    clip_shape: tuple[int, ...]
    diffs: dict[str, Diff]
    tf_logits: np.ndarray | None
    torch_logits: np.ndarray | None
    tf_nudged_logits: np.ndarray | None

    def worst(self, field: str) -> float:
        return max(getattr(diff, field) for diff in self.diffs.values())


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two arrays as flat vectors, in float64 (1.0 for two zero arrays)."""
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    norms = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    return float(a64 @ b64 / norms) if norms else float(np.array_equal(a64, b64))


def nudged(clip: np.ndarray, seed: int = ULP_SEED) -> np.ndarray:
    """``clip`` with every value moved by about one ulp, up or down at random (x · (1 ± 2⁻²³))."""
    signs = np.random.default_rng(seed).choice(np.array([-1.0, 1.0], np.float32), clip.shape)
    return (clip * (1 + signs * np.finfo(np.float32).eps)).astype(np.float32)


def bit_equal(a: np.ndarray, b: np.ndarray) -> float:
    """Share of values that are bit-for-bit identical."""
    return float(np.mean(a == b)) if a.size else 1.0


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max()) if a.size else 0.0


@dataclass(frozen=True)
class Reference:
    """TF's side of a comparison: its endpoints on a clip and how far they move when the clip is nudged."""

    clip: np.ndarray
    endpoints: dict[str, np.ndarray]  # NCTHW, like ours (Logits: (B, N))
    floor: dict[str, float]
    nudged_logits: np.ndarray | None


def reference_side(reference: TFI3D, clip: np.ndarray, names: tuple[str, ...] = ENDPOINTS) -> Reference:
    """Run TF on ``clip`` (B, T, H, W, C) and on ``nudged(clip)`` for every endpoint in ``names``."""
    if names != ENDPOINTS[: len(names)]:
        raise ValueError(f"layer-alone figures need every endpoint up to the last, got {names}")
    ref = reference.endpoints(clip, names)
    moved = reference.endpoints(nudged(clip), names)
    floor = {name: _max_abs(moved[name], ref[name]) for name in names}
    ncthw = {name: value if name == "Logits" else value.transpose(0, 4, 1, 2, 3) for name, value in ref.items()}
    return Reference(clip, ncthw, floor, moved.get("Logits"))


def compare(reference: TFI3D | Reference, model: torch.nn.Module, clip: np.ndarray | None = None) -> Comparison:
    """Every endpoint of a (B, T, H, W, C) clip three ways (a ``Reference`` brings its clip and endpoints)."""
    side = reference if isinstance(reference, Reference) else reference_side(reference, clip)
    names = tuple(side.endpoints)
    x = torch.from_numpy(side.clip).permute(0, 4, 1, 2, 3)  # NCTHW view of NTHWC memory, as a decoded clip is
    previous = x
    diffs = {}
    with torch.no_grad():
        ours = model.endpoints(x, names)
        for name in names:
            theirs = side.endpoints[name]
            alone = model.get_submodule(name)(previous).numpy()
            mine = ours[name].numpy()
            if mine.shape != theirs.shape or alone.shape != theirs.shape:
                raise ValueError(f"{name}: ours {mine.shape} (alone {alone.shape}), TF {theirs.shape}")
            scale = max(float(np.abs(theirs).max()) if theirs.size else 0.0, np.finfo(np.float32).tiny)
            max_abs, alone_abs = _max_abs(mine, theirs), _max_abs(alone, theirs)
            diffs[name] = Diff(
                tuple(theirs.shape),
                max_abs,
                max_abs / scale,
                cosine(mine, theirs),
                alone_abs,
                alone_abs / scale,
                bit_equal(alone, theirs),
                side.floor[name],
                side.floor[name] / scale,
                scale,
            )
            previous = torch.from_numpy(theirs)
    logits = "Logits" in names
    return Comparison(
        tuple(side.clip.shape),
        diffs,
        side.endpoints["Logits"] if logits else None,
        ours["Logits"].numpy() if logits else None,
        side.nudged_logits,
    )


def top_k(logits: np.ndarray, labels: list[str] | None, k: int = 5) -> list[tuple[int, str, float]]:
    """The ``k`` largest logits of one clip as (class index, label, logit)."""
    order = np.argsort(-logits, kind="stable")[:k]
    return [(int(i), labels[i] if labels else f"class {i}", float(logits[i])) for i in order]
