"""``inflate``: turn a torchvision 2D ImageNet state_dict into a 3D video network's weights file.

The output's metadata names the 3D architecture and its config, so ``converter.load_model`` rebuilds
it; ``inflate_init`` and ``inflated_from`` record how it was made.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from converter.errors import ConversionError

# CLI name -> (registered 3D architecture, its config, the 2D classifier weight giving num_classes)
NETWORKS: dict[str, tuple[str, dict[str, int], str]] = {
    **{f"resnet{d}": ("resnet3d", {"depth": d}, "fc.weight") for d in (50, 101, 152)},
    **{f"densenet{v}": ("densenet3d", {"variant": v}, "classifier.weight") for v in (121, 161, 169, 201)},
}
_OUTPUT_FORMATS = {".safetensors": "safetensors", ".pt": "pt", ".pth": "pt"}


def _time_kernel(text: str) -> int:
    value = int(text)
    if value < 1 or value % 2 == 0:
        raise argparse.ArgumentTypeError(
            f"{text} is not an odd positive integer (T is kept by padding k // 2)"
        )
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inflate",
        help="inflate a 2D ImageNet network (torchvision state_dict) into a 3D video network",
        description="Inflate a torchvision ResNet/DenseNet state_dict into a 3D network whose output on a "
        "clip of one repeated image equals the 2D output on that image.",
    )
    parser.add_argument("arch", choices=sorted(NETWORKS), metavar="ARCH", help=", ".join(NETWORKS))
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        type=Path,
        metavar="2D_WEIGHTS",
        help="torchvision state_dict (.pth/.pt, read with weights_only=True, or .safetensors)",
    )
    parser.add_argument(
        "--init",
        required=True,
        choices=("center", "mean"),
        help="center: 2D kernel in the middle time slice (Detect-and-Track); "
        "mean: replicated over time and divided by T (I3D)",
    )
    parser.add_argument(
        "--time-kernel", type=_time_kernel, default=3, help="time kernel of the stem conv (3)"
    )
    parser.add_argument("--time-stride", type=_positive, default=1, help="time stride of the stem conv (1)")
    parser.add_argument(
        "--block-time-kernel",
        type=_time_kernel,
        default=1,
        help="time kernel of each block's 3x3 conv (1; 3 gives I3D-style 3x3x3)",
    )
    parser.add_argument(
        "--time-padding",
        choices=("zeros", "replicate"),
        default="zeros",
        help="pad time with zeros (mean init then exact on interior frames only) or copies "
        "of the border frames (exact everywhere)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output .safetensors or .pt")
    parser.add_argument("--force", action="store_true", help="overwrite the output")
    parser.set_defaults(func=run)


def read_state_dict(path: Path) -> dict[str, Any]:
    """A 2D state_dict from ``.pth``/``.pt`` (no code runs: weights_only) or ``.safetensors``."""
    import torch

    if not path.is_file():
        raise ConversionError(path, "no such file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load and safetensors fail in many ways on a malformed file
        raise ConversionError(path, f"not a readable weights file: {type(err).__name__}: {err}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ConversionError(path, f"holds a {type(state).__name__}, not a state_dict")
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ConversionError(path, f"{key!r} is a {type(value).__name__}, not a tensor")
    return state


def run(args: argparse.Namespace) -> int:
    from converter.models import build
    from converter.writers import check_writable, write_weights

    fmt = _OUTPUT_FORMATS.get(args.out.suffix)
    if fmt is None:
        raise ConversionError(args.out, f"unknown output format (use {', '.join(_OUTPUT_FORMATS)})")
    check_writable(args.out, force=args.force)
    state = read_state_dict(args.source)
    architecture, config, head = NETWORKS[args.arch]
    if head not in state or state[head].dim() != 2:
        raise ConversionError(
            f"{args.source}:{head}", f"missing or not a matrix: not a torchvision {args.arch}"
        )
    config = {
        **config,
        "num_classes": state[head].shape[0],
        "time_kernel": args.time_kernel,
        "time_stride": args.time_stride,
        "block_time_kernel": args.block_time_kernel,
        "time_padding_mode": args.time_padding,
    }
    model = build(architecture, **config)
    model.load_2d(state, args.init, source=str(args.source))
    metadata = {
        "architecture": architecture,
        "config": json.dumps(config, sort_keys=True),
        "inflate_init": args.init,
        "inflated_from": args.source.name,
    }
    written = write_weights(args.out, model.state_dict(), metadata, fmt, force=args.force)
    print(f"{written.path}: {architecture} {config} ({args.init} init), sha256 {written.sha256}")
    return 0
