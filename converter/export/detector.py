"""The FVD detector as one TorchScript file, called like the one StyleGAN-V's FVD code loads (or as a
``torch.export`` program for clips of one shape: ``build_exported_detector``).

``detector(videos, rescale=False, resize=False, return_features=False)`` with ``videos`` float or uint8
(B, C, T, H, W):

* ``resize=True``: every frame to 224×224 with TF1's legacy ``resize_bilinear`` (``align_corners=False,
  half_pixel_centers=False``; ``converter.fvd.resize``), on the 0..255 values, as TF's FVD does;
  without it, H and W must already be in 193..224 (the logits' range).
* ``rescale=True``: ``2·x/255 − 1`` (0..255 to [-1, 1]), after the resize as in the recipe; without it the
  input must already be in [-1, 1].
* ``return_features=True``: the 400 Kinetics logits averaged over time (the TF-Hub module's ``default``
  output, FVD's features); ``False``: their softmax, class probabilities.

So ``detector(videos, rescale=True, resize=True, return_features=True)`` computes TF's FVD features
(google-research ``frechet_video_distance.py``: ``preprocess`` then the hub module), the same as
``converter.fvd`` does. StyleGAN-V's ``i3d_torchscript.pt`` says it "matches the original tensorflow
implementation up to the upsampling operation": its resize is not TF's, so its features differ from
TF's whenever frames are resized; here they are TF's.
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from converter.errors import ConversionError
from converter.export.graph import EndpointNet, input_ranges
from converter.fvd.resize import legacy_resize_bilinear
from converter.writers import as_new_file

SIZE = 224
# (B, T, H, W) uint8 clips the written file is checked at: odd and even sizes, up- and down-sized, batch 1/3
CHECK_SHAPES = [(1, 9, 64, 81), (2, 10, 225, 224)]
TOLERANCE = 1e-4


class FVDDetector(nn.Module):
    """TF's FVD recipe around a recorded I3D (``i3d``: (B, 3, T, 224, 224) in [-1, 1] → (B, 400) logits)."""

    def __init__(self, i3d: nn.Module) -> None:
        super().__init__()
        self.i3d = i3d
        self.size = SIZE  # attributes: TorchScript does not read module-level ints
        limits = input_ranges("Logits", at_least_two=False)
        self.min_frames = limits["time"].low
        self.min_side, self.max_side = limits["height"].low, limits["height"].high

    def forward(
        self, videos: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = False
    ) -> torch.Tensor:
        if videos.dim() != 5 or videos.shape[1] != 3:
            raise ValueError(f"expected videos (B, 3, T, H, W), got {list(videos.shape)}")
        x = videos.to(torch.float32)
        if resize:
            frames = legacy_resize_bilinear(x.permute(0, 2, 3, 4, 1), self.size, self.size)  # (B, T, H, W, C)
            x = frames.permute(0, 4, 1, 2, 3)
        if x.shape[2] < self.min_frames:
            raise ValueError(f"I3D's logits need at least {self.min_frames} frames, got {x.shape[2]}")
        if not resize and not (
            self.min_side <= x.shape[3] <= self.max_side and self.min_side <= x.shape[4] <= self.max_side
        ):
            raise ValueError(
                f"resize=False needs frames of {self.min_side}..{self.max_side} pixels a side (I3D's logits), "
                f"got {x.shape[3]}x{x.shape[4]}; pass resize=True to resize them to 224x224 as TF's FVD does"
            )
        if rescale:
            x = 2.0 * x / 255.0 - 1.0
        logits = self.i3d(x.contiguous())
        if return_features:
            return logits
        return F.softmax(logits, dim=1)


def build_detector(model: nn.Module) -> torch.jit.ScriptModule:
    """``FVDDetector`` scripted around the model's logits traced with free batch, time, height, width."""
    if getattr(model, "in_channels", None) != 3 or getattr(model, "num_classes", None) != 400:
        raise ConversionError(None, "the FVD detector needs an RGB Kinetics-400 I3D (3 channels, 400 logits)")
    net = EndpointNet(copy.deepcopy(model).eval().requires_grad_(False), "Logits").eval()
    example = torch.rand(2, 3, 10, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(net, example, check_trace=False)
        return torch.jit.script(FVDDetector(traced))


def reference_features(model: nn.Module, videos: torch.Tensor) -> torch.Tensor:
    """The recipe computed eagerly: legacy resize to 224, ``2·x/255 − 1``, the model's logits."""
    frames = legacy_resize_bilinear(videos.permute(0, 2, 3, 4, 1), SIZE, SIZE)
    with torch.no_grad():
        return model((2.0 * frames / 255.0 - 1.0).permute(0, 4, 1, 2, 3).contiguous())


FVD_FLAGS = {"rescale": True, "resize": True, "return_features": True}  # FVD's features, as StyleGAN-V calls it


def build_exported_detector(model: nn.Module, shape: tuple[int, int, int, int]) -> torch.export.ExportedProgram:
    """``FVDDetector`` as a ``torch.export`` program (TorchScript's successor) for uint8 clips of one
    (B, T, H, W) ``shape``, called ``program.module()(videos, rescale=True, resize=True,
    return_features=True)``: torch.export fixes the flags and, as TF's resize computes its sampling
    positions from the input size, the shape; another flag or shape fails its guard."""
    if getattr(model, "in_channels", None) != 3 or getattr(model, "num_classes", None) != 400:
        raise ConversionError(None, "the FVD detector needs an RGB Kinetics-400 I3D (3 channels, 400 logits)")
    b, t, h, w = shape
    detector = FVDDetector(EndpointNet(copy.deepcopy(model).eval().requires_grad_(False), "Logits").eval()).eval()
    example = torch.zeros(b, 3, t, h, w, dtype=torch.uint8)
    with torch.no_grad():
        try:
            detector(example, **FVD_FLAGS)
        except ValueError as err:
            raise ConversionError(None, f"--shape {b}x{t}x{h}x{w}: {err}") from None
        return torch.export.export(detector, (example,), dict(FVD_FLAGS))


def export_detector(
    model: nn.Module,
    out: str | os.PathLike[str],
    *,
    fmt: str = "torchscript",
    shape: tuple[int, int, int, int] = (1, 16, 224, 224),
) -> list[tuple[tuple[int, ...], float]]:
    """Write the detector to ``out`` — ``fmt`` ``torchscript`` (any clip size) or ``exported-program`` (uint8
    clips of ``shape``) — checked against ``reference_features`` on uint8 clips (several sizes; the one
    ``shape`` for a program), max |Δ| ≤ 1e-4 relative to max(1, |logits|), before it is moved into place
    with the permissions any new file gets."""
    out = Path(out)
    if fmt == "torchscript":
        detector, suffix, shapes = build_detector(model), ".pt", CHECK_SHAPES
    elif fmt == "exported-program":
        detector, suffix, shapes = build_exported_detector(model, shape), ".pt2", [shape]
    else:
        raise ConversionError(out, f"the FVD detector is torchscript or exported-program, not {fmt!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        if fmt == "torchscript":
            detector.save(str(tmp))
            loaded = torch.jit.load(str(tmp), map_location="cpu")
        else:
            torch.export.save(detector, str(tmp))
            loaded = torch.export.load(str(tmp)).module()
        generator = torch.Generator().manual_seed(0)
        checks = []
        for b, t, h, w in shapes:
            videos = torch.randint(0, 256, (b, 3, t, h, w), dtype=torch.uint8, generator=generator)
            want = reference_features(model, videos)
            with torch.no_grad():
                got = loaded(videos, **FVD_FLAGS)
            error = (got - want).abs().max().item() / max(1.0, want.abs().max().item())
            checks.append(((b, t, h, w), error))
            if not error <= TOLERANCE:
                raise ConversionError(out, f"detector differs from the FVD recipe at {b}x{t}x{h}x{w}: {error:.2e}")
        as_new_file(tmp)  # 0644 under the usual umask, as the other exports
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return checks
