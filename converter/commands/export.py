"""``export WEIGHTS --format F --out PATH``: a deployable model file (TorchScript, ONNX, torch.export, FVD)."""

from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("torchscript", "onnx", "exported-program", "fvd-detector", "fvd-detector-exported-program")
DIMENSIONS = ("batch", "time", "height", "width")


def _shape(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected BxTxHxW, e.g. 1x16x224x224, got {text!r}") from None
    if len(sizes) != 4 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected four positive sizes BxTxHxW, got {text!r}")
    return sizes


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export I3D as TorchScript, ONNX, a torch.export program, or an FVD detector",
        description="Write the model up to --endpoint as a file other runtimes load, with the --dynamic input "
        "dimensions free (the others fixed by --shape). The file is written beside --out, loaded back with its "
        "own runtime (torch.jit, ONNX Runtime, torch.export), compared with the eager model at several sizes "
        "(max |Δ| <= 1e-4) and only then moved into place. fvd-detector writes a TorchScript module "
        "detector(videos, rescale=False, resize=False, return_features=False) computing TF's FVD features; "
        "fvd-detector-exported-program the same call as a torch.export program (torch.export.load(PATH).module()) "
        "for uint8 clips of --shape, with rescale=True, resize=True, return_features=True fixed.",
    )
    p.add_argument("weights", type=Path, metavar="WEIGHTS", help="I3D weights file (.safetensors/.pt)")
    p.add_argument("--format", dest="fmt", choices=FORMATS, required=True, help="what to write")
    p.add_argument("--out", type=Path, required=True, help="output file")
    p.add_argument(
        "--dynamic",
        default=",".join(DIMENSIONS),
        help="comma-separated input dimensions that may vary: batch,time,height,width (default: all; "
        "'none' for a fixed shape). Logits needs >= 9 frames and height/width 193..224",
    )
    p.add_argument(
        "--shape",
        type=_shape,
        default=(1, 16, 224, 224),
        metavar="BxTxHxW",
        help="sizes of the dimensions that are not dynamic (default 1x16x224x224)",
    )
    p.add_argument("--endpoint", default="Logits", help="output endpoint, e.g. Mixed_5c for features (default Logits)")
    p.add_argument("--opset", type=int, help="ONNX opset version (onnx only; default: the exporter's)")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from converter.api import load_model
    from converter.errors import ConversionError

    if args.out.exists() and not args.force:
        raise ConversionError(args.out, "exists (use --force to replace it)")
    model = load_model(args.weights)
    if model.metadata.get("architecture") != "i3d":
        raise ConversionError(args.weights, f"export supports I3D weights, not {model.metadata.get('architecture')}")
    start = time.perf_counter()
    if args.fmt.startswith("fvd-detector"):
        from converter.export.detector import export_detector

        if args.endpoint != "Logits" or args.opset is not None:
            raise ConversionError(args.out, "fvd-detector is always Logits (FVD's features); no --endpoint/--opset")
        if args.fmt == "fvd-detector":
            checks = export_detector(model, args.out)
            what = "FVD detector (TorchScript)"
        else:
            checks = export_detector(model, args.out, fmt="exported-program", shape=args.shape)
            what = f"FVD detector (torch.export, uint8 {'x'.join(map(str, args.shape))} clips)"
    else:
        from converter.export import export_model

        dynamic = [] if args.dynamic.strip().lower() == "none" else args.dynamic.split(",")
        checks = export_model(
            model, args.fmt, args.out, endpoint=args.endpoint, dynamic=dynamic, shape=args.shape, opset=args.opset
        )
        what = f"{args.fmt}, {args.endpoint}, dynamic: {', '.join(dynamic) or 'none'}"
    size = args.out.stat().st_size / 1e6
    print(f"wrote {args.out} ({what}; {size:.1f} MB) in {time.perf_counter() - start:.1f} s")
    for shape, error in checks:
        print(f"  checked {'x'.join(map(str, shape)):>16} (BxTxHxW): max |Δ| vs eager {error:.2e}")
    return 0
