"""Why end-to-end differences can exceed 1e-5: float64 truth, and every CPU conv path of both frameworks.

For each stream's cricket clip it measures, per endpoint, how far TF fp32 and our fp32 each are from a
float64 run (our model in float64: layer alone it equals TF's function to ~1e-6, see REPORT.md), and
what happens with TF's oneDNN kernels off (``TF_ENABLE_ONEDNN_OPTS=0``, read at import, so TF runs in
a subprocess per setting) and PyTorch's mkldnn off, end to end and layer alone: does any pairing make
the convolutions agree bit for bit? ``make parity`` runs it (a slow test) and writes INVESTIGATION.md.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from converter.tf_reference import ENDPOINTS, TFI3D
from parity.compare import bit_equal
from parity.report import atomic_write, fmt_e, fmt_shape
from parity.suite import Suite

JSON_NAME, MARKDOWN_NAME = "investigation.json", "INVESTIGATION.md"
STREAMS = ("rgb", "flow")
PAIRINGS = (("on", True), ("on", False), ("off", True), ("off", False))  # (TF oneDNN, torch mkldnn)


def tf_endpoints(prefix: Path, clip: np.ndarray, onednn: bool, workdir: Path) -> dict[str, np.ndarray]:
    """All endpoints from TF in a fresh process with oneDNN on or off, as NCTHW arrays."""
    workdir.mkdir(parents=True, exist_ok=True)
    clip_path, out = workdir / "clip.npy", workdir / f"tf_onednn_{int(onednn)}.npz"
    np.save(clip_path, clip)
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": str(int(onednn)), "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "parity.investigation", str(prefix), str(clip_path), str(out)]
    subprocess.run(command, env=env, check=True, cwd=Path(__file__).resolve().parent.parent)
    with np.load(out) as found:
        arrays = {name: _ncthw(name, found[name]) for name in ENDPOINTS}
    out.unlink()
    return arrays


def _ncthw(name: str, array: np.ndarray) -> np.ndarray:
    return array if name == "Logits" else np.ascontiguousarray(array.transpose(0, 4, 1, 2, 3))


def torch_endpoints(model: torch.nn.Module, clip: np.ndarray, mkldnn: bool, dtype: torch.dtype) -> dict:
    x = torch.from_numpy(clip).permute(0, 4, 1, 2, 3).to(dtype)
    with torch.no_grad(), torch.backends.mkldnn.flags(enabled=mkldnn):
        return {name: value.numpy() for name, value in model.endpoints(x, ENDPOINTS).items()}


def layer_alone(model: torch.nn.Module, clip: np.ndarray, tf: dict, mkldnn: bool) -> dict[str, list[float]]:
    """Per endpoint [max|Δ|/max|ref|, share bit-identical] of our layer fed TF's previous endpoint."""
    previous = torch.from_numpy(clip).permute(0, 4, 1, 2, 3)
    found = {}
    with torch.no_grad(), torch.backends.mkldnn.flags(enabled=mkldnn):
        for name in ENDPOINTS:
            alone = model.get_submodule(name)(previous).numpy()
            found[name] = [rel(alone, tf[name]), bit_equal(alone, tf[name])]
            previous = torch.from_numpy(tf[name])
    return found


def rel(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |b|."""
    return float(np.abs(a.astype(np.float64) - b).max() / max(float(np.abs(b).max()), 1e-30))


def investigate(suite: Suite, stream: str) -> dict:
    clip, model = suite.clip(stream), suite.model(stream)
    prefix = suite.checkpoint(stream).prefix
    work = suite.workdir / "investigation" / stream
    tf = {setting: tf_endpoints(prefix, clip, setting == "on", work) for setting in ("on", "off")}
    ours = {mkldnn: torch_endpoints(model, clip, mkldnn, torch.float32) for mkldnn in (True, False)}
    truth = torch_endpoints(copy.deepcopy(model).double(), clip, True, torch.float64)
    end_to_end = {
        name: {
            "ours_vs_tf": rel(ours[True][name], tf["on"][name]),
            "tf_vs_f64": rel(tf["on"][name], truth[name]),
            "ours_vs_f64": rel(ours[True][name], truth[name]),
            "tf_onednn_off_vs_on": rel(tf["off"][name], tf["on"][name]),
            "ours_mkldnn_off_vs_tf": rel(ours[False][name], tf["on"][name]),
            "ours_mkldnn_off_vs_tf_onednn_off": rel(ours[False][name], tf["off"][name]),
        }
        for name in ENDPOINTS
    }
    alone = {
        f"TF oneDNN {setting}, torch mkldnn {'on' if mkldnn else 'off'}": layer_alone(model, clip, tf[setting], mkldnn)
        for setting, mkldnn in PAIRINGS
    }
    checkpoint = suite.checkpoint(stream)
    return {
        "checkpoint": f"{checkpoint.name} ({checkpoint.origin})",
        "clip_shape": list(clip.shape),
        "end_to_end": end_to_end,
        "layer_alone": alone,
    }


def write(results: dict, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=1) + "\n"
    atomic_write(folder / JSON_NAME, text.encode())
    atomic_write(folder / MARKDOWN_NAME, render(json.loads(text)).encode())
    return [folder / JSON_NAME, folder / MARKDOWN_NAME]


COLUMNS = {
    "ours_vs_tf": "ours vs TF",
    "tf_vs_f64": "TF vs f64",
    "ours_vs_f64": "ours vs f64",
    "tf_onednn_off_vs_on": "TF oneDNN off vs on",
    "ours_mkldnn_off_vs_tf": "ours mkldnn off vs TF",
    "ours_mkldnn_off_vs_tf_onednn_off": "ours mkldnn off vs TF oneDNN off",
}


def render(results: dict) -> str:
    lines = [
        "# Investigation: where the end-to-end fp32 differences come from",
        "",
        "Generated by `make parity` (the slow `parity/test_investigation.py`) from `investigation.json`; "
        "not edited by hand. All figures are max|Δ| / max|ref|; 'f64' is our model run in float64.",
        "",
        "How to read it: if one side had a wrong op, it would be far from the float64 run while the other "
        "is close. Instead TF fp32 and our fp32 are about equally far from float64, and TF with its "
        "oneDNN kernels switched off moves from TF with them on by as much as we differ from TF. No "
        "pairing of kernels makes the convolutions bit-identical layer alone (last columns), so the "
        "difference is accumulation order inside the convolution kernels, amplified by the network.",
        "",
    ]
    for stream, result in results.items():
        lines += [
            f"## {stream}: {result['checkpoint']}, clip {fmt_shape(result['clip_shape'])}",
            "",
            "End to end:",
            "",
            "| endpoint | " + " | ".join(COLUMNS.values()) + " |",
            "|---|" + "---|" * len(COLUMNS),
        ]
        for name, row in result["end_to_end"].items():
            lines.append(f"| {name} | " + " | ".join(fmt_e(row[key]) for key in COLUMNS) + " |")
        pairings = list(result["layer_alone"])
        lines += [
            "",
            "Layer alone (our layer fed that TF's previous endpoint): max|Δ|/max|ref|, share of values bit-identical:",
            "",
            "| endpoint | " + " | ".join(pairings) + " |",
            "|---|" + "---|" * len(pairings),
        ]
        for name in result["end_to_end"]:
            cells = [result["layer_alone"][p][name] for p in pairings]
            lines.append(f"| {name} | " + " | ".join(f"{fmt_e(r)}, {share:.1%}" for r, share in cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> None:
    """Subprocess entry: ``python -m parity.investigation PREFIX CLIP.npy OUT.npz`` (TF endpoints)."""
    prefix, clip, out = argv
    np.savez(out, **TFI3D(prefix).endpoints(np.load(clip)))


if __name__ == "__main__":
    main(sys.argv[1:])
