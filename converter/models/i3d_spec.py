"""I3D (Inception-v1 inflated to 3D) as plain data, read top to bottom like DeepMind's ``i3d.py``.

The PyTorch model is built from this table and the converter checks targets against
``parameter_shapes`` without importing torch, so the architecture is written down exactly once.
Names are the TF scope names; Mixed_5b's ``Branch_2/Conv3d_0a_3x3`` typo is fixed to ``Conv3d_0b_3x3``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache

from converter.errors import ConversionError

Triple = tuple[int, int, int]


@dataclass(frozen=True)
class Unit:
    """Unit3D: conv (no bias, TF 'SAME') -> BatchNorm (beta only, eps 1e-3) -> ReLU."""

    out_channels: int
    kernel: Triple
    stride: Triple = (1, 1, 1)


@dataclass(frozen=True)
class MaxPool:
    """max_pool3d with TF 'SAME' padding."""

    kernel: Triple
    stride: Triple


@dataclass(frozen=True)
class Mixed:
    """Inception block: four branches, each a chain of named layers, concatenated on channels."""

    branches: tuple[tuple[tuple[str, Unit | MaxPool], ...], ...]


@dataclass(frozen=True)
class Logits:
    """avg-pool VALID -> dropout -> 1x1x1 conv with bias -> spatial squeeze -> mean over time."""

    pool_kernel: Triple = (2, 7, 7)
    conv_name: str = "Conv3d_0c_1x1"


def _mixed(b0: int, b1a: int, b1b: int, b2a: int, b2b: int, b3: int) -> Mixed:
    return Mixed(
        (
            (("Conv3d_0a_1x1", Unit(b0, (1, 1, 1))),),
            (("Conv3d_0a_1x1", Unit(b1a, (1, 1, 1))), ("Conv3d_0b_3x3", Unit(b1b, (3, 3, 3)))),
            (("Conv3d_0a_1x1", Unit(b2a, (1, 1, 1))), ("Conv3d_0b_3x3", Unit(b2b, (3, 3, 3)))),
            (("MaxPool3d_0a_3x3", MaxPool((3, 3, 3), (1, 1, 1))), ("Conv3d_0b_1x1", Unit(b3, (1, 1, 1)))),
        )
    )


Layer = Unit | MaxPool | Mixed | Logits

LAYERS: tuple[tuple[str, Layer], ...] = (
    ("Conv3d_1a_7x7", Unit(64, (7, 7, 7), (2, 2, 2))),
    ("MaxPool3d_2a_3x3", MaxPool((1, 3, 3), (1, 2, 2))),
    ("Conv3d_2b_1x1", Unit(64, (1, 1, 1))),
    ("Conv3d_2c_3x3", Unit(192, (3, 3, 3))),
    ("MaxPool3d_3a_3x3", MaxPool((1, 3, 3), (1, 2, 2))),
    ("Mixed_3b", _mixed(64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", _mixed(128, 128, 192, 32, 96, 64)),
    ("MaxPool3d_4a_3x3", MaxPool((3, 3, 3), (2, 2, 2))),
    ("Mixed_4b", _mixed(192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", _mixed(160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", _mixed(128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", _mixed(112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", _mixed(256, 160, 320, 32, 128, 128)),
    ("MaxPool3d_5a_2x2", MaxPool((2, 2, 2), (2, 2, 2))),
    ("Mixed_5b", _mixed(256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", _mixed(384, 192, 384, 48, 128, 128)),
    ("Logits", Logits()),
)

ENDPOINTS: tuple[str, ...] = tuple(name for name, _ in LAYERS)

LOGITS_WEIGHT = "Logits.Conv3d_0c_1x1.conv.weight"
LOGITS_BIAS = "Logits.Conv3d_0c_1x1.conv.bias"
STEM_WEIGHT = "Conv3d_1a_7x7.conv.weight"
STEM_GAMMA = "Conv3d_1a_7x7.bn.weight"  # present only in models with a BatchNorm scale


def out_channels(layer: Layer, in_channels: int, num_classes: int = 400) -> int:
    """Channels a layer produces from ``in_channels``."""
    if isinstance(layer, Unit):
        return layer.out_channels
    if isinstance(layer, MaxPool):
        return in_channels
    if isinstance(layer, Mixed):
        return sum(out_channels(branch[-1][1], in_channels) for branch in layer.branches)
    return num_classes


def units(in_channels: int = 3) -> Iterator[tuple[str, int, Unit]]:
    """Every Unit3D as (dotted module path, input channels, spec), in state_dict order."""
    channels = in_channels
    for name, layer in LAYERS:
        if isinstance(layer, Unit):
            yield name, channels, layer
        elif isinstance(layer, Mixed):
            for index, branch in enumerate(layer.branches):
                branch_channels = channels
                for sub_name, sub in branch:
                    if isinstance(sub, Unit):
                        yield f"{name}.Branch_{index}.{sub_name}", branch_channels, sub
                    branch_channels = out_channels(sub, branch_channels)
        channels = out_channels(layer, channels)


def logits_in_channels() -> int:
    """Channels entering Logits (1024)."""
    channels = 3
    for _, layer in LAYERS[:-1]:
        channels = out_channels(layer, channels)
    return channels


def parameter_shapes(
    num_classes: int = 400, in_channels: int = 3, bn_scale: bool = False
) -> dict[str, tuple[int, ...]]:
    """Every state_dict key of ``InceptionI3d(num_classes, in_channels, bn_scale=…)`` with its shape."""
    shapes: dict[str, tuple[int, ...]] = {}
    stats = ("weight", "bias", "running_mean", "running_var") if bn_scale else ("bias", "running_mean", "running_var")
    for path, cin, unit in units(in_channels):
        shapes[f"{path}.conv.weight"] = (unit.out_channels, cin, *unit.kernel)
        for stat in stats:
            shapes[f"{path}.bn.{stat}"] = (unit.out_channels,)
    shapes[LOGITS_WEIGHT] = (num_classes, logits_in_channels(), 1, 1, 1)
    shapes[LOGITS_BIAS] = (num_classes,)
    return shapes


def infer_config(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, int]:
    """Builder kwargs {"num_classes", "in_channels"} read off the logits bias and stem weight shapes, and
    ``bn_scale: True`` when there is a BatchNorm gamma (absent otherwise, so such files are unchanged)."""
    for key, rank in ((LOGITS_BIAS, 1), (STEM_WEIGHT, 5)):
        if key not in shapes:
            raise ConversionError(None, f"{key}: missing, cannot tell the I3D config")
        if len(shapes[key]) != rank:
            raise ConversionError(None, f"{key}: expected {rank} dimensions, got shape {tuple(shapes[key])}")
    config = {"num_classes": int(shapes[LOGITS_BIAS][0]), "in_channels": int(shapes[STEM_WEIGHT][1])}
    return config | ({"bn_scale": True} if STEM_GAMMA in shapes else {})


def same_size(size: int, stride: int) -> int:
    """Output length of a TF 'SAME' conv/pool: ceil(size / stride)."""
    return -(-size // stride)


def endpoint_size(name: str, thw: Triple) -> Triple:
    """(T, H, W) of a non-Logits endpoint for an input of (T, H, W) frames."""
    if name not in ENDPOINTS[:-1]:
        raise ValueError(f"unknown endpoint {name!r} (valid: {', '.join(ENDPOINTS[:-1])})")
    t, h, w = thw
    for layer_name, layer in LAYERS:
        if isinstance(layer, Unit | MaxPool):
            st, sh, sw = layer.stride
            t, h, w = same_size(t, st), same_size(h, sh), same_size(w, sw)
        if layer_name == name:
            break
    return t, h, w


def _smallest_input(axis: int, at_least: int) -> int:
    """Smallest input length along ``axis`` for which Mixed_5c is at least ``at_least`` long there."""
    n = 1
    while endpoint_size("Mixed_5c", (n, n, n))[axis] < at_least:
        n += 1
    return n


@cache
def logits_input_sizes() -> tuple[int, range, range]:
    """(fewest frames, allowed heights, allowed widths) of an input for which Logits exists.

    Logits averages a [2, 7, 7] VALID window and then squeezes space like TF (which fails unless the
    pooled map is 1x1), so Mixed_5c must have at least 2 frames and be exactly 7x7: 9 frames, 193..224.
    """
    kt, kh, kw = Logits().pool_kernel
    return (
        _smallest_input(0, kt),
        range(_smallest_input(1, kh), _smallest_input(1, kh + 1)),
        range(_smallest_input(2, kw), _smallest_input(2, kw + 1)),
    )
