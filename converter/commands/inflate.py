"""``inflate``: turn a 2D ImageNet network into a 3D video network's weights file.

ResNet/DenseNet come from torchvision state_dicts and get their time extents from the options;
``inception-v1`` (a TF-slim checkpoint or a torchvision GoogLeNet) becomes our I3D, whose time extents
are fixed, through the mapping tables in ``converter/mappings/inflate`` (``converter.inflate.inception``).
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
INCEPTION = "inception-v1"
_OUTPUT_FORMATS = {".safetensors": "safetensors", ".pt": "pt", ".pth": "pt"}
# option -> its default for ResNet/DenseNet; I3D's time extents are its own (7, 3, 1)
_TIME_OPTIONS = {"time_kernel": 3, "time_stride": 1, "block_time_kernel": 1, "time_padding": "zeros"}


def _time_kernel(text: str) -> int:
    value = int(text)
    if value < 1 or value % 2 == 0:
        raise argparse.ArgumentTypeError(f"{text} is not an odd positive integer (T is kept by padding k // 2)")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inflate",
        help="inflate a 2D ImageNet network into a 3D video network (inception-v1 into I3D)",
        description="Inflate a torchvision ResNet/DenseNet state_dict into a 3D network, or a 2D Inception-v1 "
        "(TF-slim checkpoint or torchvision GoogLeNet) into I3D (the paper's ImageNet initialisation), whose "
        "output on a clip of one repeated image equals the 2D output on that image (where that holds).",
    )
    parser.add_argument(
        "arch", choices=[*sorted(NETWORKS), INCEPTION], metavar="ARCH", help=", ".join([*NETWORKS, INCEPTION])
    )
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        type=Path,
        metavar="2D_WEIGHTS",
        help="torchvision state_dict (.pth/.pt, read by the restricted unpickler: no code runs; a checkpoint's "
        "state_dict is taken; or .safetensors); for inception-v1 also a TF-slim checkpoint: a V1 file "
        "(inception_v1.ckpt) or a V2 prefix",
    )
    parser.add_argument(
        "--init",
        required=True,
        choices=("center", "mean"),
        help="center: 2D kernel in the middle time slice (Detect-and-Track); "
        "mean: replicated over time and divided by T (I3D)",
    )
    parser.add_argument("--time-kernel", type=_time_kernel, help="time kernel of the stem conv (3; ResNet/DenseNet)")
    parser.add_argument("--time-stride", type=_positive, help="time stride of the stem conv (1; ResNet/DenseNet)")
    parser.add_argument(
        "--block-time-kernel",
        type=_time_kernel,
        help="time kernel of each block's 3x3 conv (1; 3 gives I3D-style 3x3x3; ResNet/DenseNet)",
    )
    parser.add_argument(
        "--time-padding",
        choices=("zeros", "replicate"),
        help="pad time with zeros (mean init then exact on interior frames only) or copies "
        "of the border frames (exact everywhere); zeros by default (ResNet/DenseNet)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output .safetensors or .pt")
    parser.add_argument("--force", action="store_true", help="overwrite the output")
    parser.set_defaults(func=run)


def read_state_dict(path: Path) -> dict[str, Any]:
    """A 2D state_dict from ``.pth``/``.pt`` (through the restricted unpickler: no code runs; a training
    checkpoint's ``state_dict``/``model`` entry is taken) or ``.safetensors``."""
    import torch

    if not path.is_file():
        raise ConversionError(path, "no such file")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(path)
        except (SafetensorError, OSError, ValueError) as err:
            raise ConversionError(path, f"not a readable safetensors file: {err}") from None
    else:
        from converter.readers.torch_pickle import load_file
        from converter.readers.torch_state_dict import state_dict

        state = state_dict(path, load_file(path))[0]
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
    given = {name: getattr(args, name) for name in _TIME_OPTIONS if getattr(args, name) is not None}
    if args.arch == INCEPTION:
        if given:
            options = ", ".join(f"--{name.replace('_', '-')}" for name in given)
            raise ConversionError(None, f"{options}: not for {INCEPTION} (I3D's time extents are its own: 7, 3, 1)")
        return _run_inception(args, fmt)
    time = {**_TIME_OPTIONS, **given}
    state = read_state_dict(args.source)
    architecture, config, head = NETWORKS[args.arch]
    if head not in state or state[head].dim() != 2:
        raise ConversionError(f"{args.source}:{head}", f"missing or not a matrix: not a torchvision {args.arch}")
    config = {
        **config,
        "num_classes": state[head].shape[0],
        "time_kernel": time["time_kernel"],
        "time_stride": time["time_stride"],
        "block_time_kernel": time["block_time_kernel"],
        "time_padding_mode": time["time_padding"],
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
    print(f"{written.path}: {architecture} {config} ({args.init} init){written.sha256_note()}")
    return 0


def _run_inception(args: argparse.Namespace, fmt: str) -> int:
    from converter.conversion import metadata
    from converter.hashing import source_sha256
    from converter.inflate.inception import open_2d, plan_inflation
    from converter.writers import Later, write_weights

    source = open_2d(args.source)
    digest = Later(64, source_sha256(source.files()))
    the_plan = plan_inflation(source, args.init)
    meta = {
        **metadata(the_plan, str(args.source), digest),
        "inflate_init": args.init,
        "inflated_from": args.source.name,
    }
    written = write_weights(args.out, the_plan.tensors(), meta, fmt, force=args.force)
    print(f"{written.path}: i3d {the_plan.config} from {the_plan.table.name} ({args.init} init){written.sha256_note()}")
    return 0
