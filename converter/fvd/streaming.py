"""``FVD``: the metric fed batch by batch during training, in torchmetrics' shape (``update``/``compute``/
``reset``), equal to the one-shot ``fvd()`` on the same clips.

Each side keeps float64 sums — count N, Σx (D,), Σxxᵀ (D, D) — of its I3D features, so memory does not
grow with N and ranks combine by adding: under ``torch.distributed`` (a process group up, e.g. torchrun)
``compute`` all-reduces the sums, every rank feeds its own videos and every rank gets the FVD of all
of them. The mean and covariance follow the protocol (``tf``: (Σxxᵀ − Nμμᵀ)/(N−1); StyleGAN-V's:
Σxxᵀ/N − μμᵀ, as its ``FeatureStats``), then ``frechet_distance``.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from converter.errors import ConversionError
from converter.fvd.distance import Statistics, frechet_distance
from converter.fvd.features import MIN_FRAMES, default_device, load_detector, preprocess
from converter.fvd.protocols import Protocol, get_protocol
from converter.fvd.ranges import check_value_range, to_0_255


class _Sums:
    def __init__(self, width: int) -> None:
        self.n = 0
        self.total = torch.zeros(width, dtype=torch.float64)
        self.outer = torch.zeros(width, width, dtype=torch.float64)

    def add(self, features: torch.Tensor) -> None:
        x = features.detach().to("cpu", torch.float64)
        self.n += x.shape[0]
        self.total += x.sum(0)
        self.outer += x.T @ x


class FVD:
    """Streaming Fréchet Video Distance.

    ``update(videos, real)`` with ``videos`` (B, T, H, W, 3) — torch or numpy, uint8 or float 0..255
    (``value_range="0-1"`` for [0, 1] floats), T ≥ 9, each video taken whole as its clip; ``compute()``
    → a float (ConversionError with fewer than 2 videos a side); ``reset()`` forgets the generated side,
    and the real side too unless ``reset_real_features=False`` (torchmetrics' name: keep a reference set
    across evaluations). ``model`` (``load_detector``) or ``weights``; ``protocol`` as ``fvd()``.
    """

    def __init__(
        self,
        model: torch.nn.Module | None = None,
        *,
        weights: str | os.PathLike[str] | None = None,
        protocol: str | Protocol = "tf",
        device: str | torch.device | None = None,
        value_range: str = "0-255",
        reset_real_features: bool = True,
        batch_size: int = 16,
    ) -> None:
        self.model = model if model is not None else load_detector(weights, default_device(device))
        self.protocol = get_protocol(protocol)
        self.value_range = check_value_range(value_range)
        self.reset_real_features = reset_real_features
        self.batch_size = batch_size
        self.device = next(self.model.parameters()).device
        self.real, self.fake = _Sums(self.model.num_classes), _Sums(self.model.num_classes)

    def update(self, videos, real: bool) -> None:
        """Add a batch of videos to the real (``real=True``) or generated side."""
        x = videos if isinstance(videos, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(videos))
        if x.dim() != 5 or x.shape[-1] != 3:
            raise ConversionError(None, f"expected videos (B, T, H, W, 3), got shape {tuple(x.shape)}")
        if x.shape[1] < MIN_FRAMES:
            raise ConversionError(None, f"clips of {x.shape[1]} frames; I3D's logits need at least {MIN_FRAMES}")
        side = self.real if real else self.fake
        name = "real videos" if real else "generated videos"
        for start in range(0, x.shape[0], self.batch_size):
            batch = x[start : start + self.batch_size].to(self.device)
            batch = to_0_255(batch, self.value_range, name, list(range(start, start + batch.shape[0])))
            with torch.no_grad():
                side.add(self.model(preprocess(batch)))

    def compute(self) -> float:
        """The FVD of everything added so far, on every rank (sums all-reduced under a process group)."""
        a, b = (self._statistics(side, label) for side, label in ((self.real, "real"), (self.fake, "generated")))
        return frechet_distance(a, b, self.protocol)

    def reset(self) -> None:
        self.fake = _Sums(self.model.num_classes)
        if self.reset_real_features:
            self.real = _Sums(self.model.num_classes)

    def _statistics(self, side: _Sums, label: str) -> Statistics:
        n, total, outer = _all_reduce(side, self.device)
        if n < 2:
            raise ConversionError(None, f"FVD needs at least 2 {label} videos, got {n}")
        mean = total / n
        if self.protocol.covariance_divisor == "n-1":
            covariance = (outer - n * np.outer(mean, mean)) / (n - 1)
        else:
            covariance = outer / n - np.outer(mean, mean)
        return Statistics(mean, covariance, n, self.protocol.name, getattr(self.model, "weights_sha256", ""))


def _all_reduce(side: _Sums, device: torch.device) -> tuple[int, np.ndarray, np.ndarray]:
    """(N, Σx, Σxxᵀ) summed over the ranks of the process group when one is up (this rank's otherwise)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return side.n, side.total.numpy(), side.outer.numpy()
    on = device if dist.get_backend() == "nccl" else torch.device("cpu")
    n = torch.tensor([side.n], dtype=torch.float64, device=on)
    total, outer = side.total.to(on), side.outer.to(on)
    for tensor in (n, total, outer):
        dist.all_reduce(tensor)
    return int(n.item()), total.cpu().numpy(), outer.cpu().numpy()
