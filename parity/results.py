"""Everything a parity run measured, as one JSON-able dict: the single source REPORT.md is rendered from."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from parity import thresholds
from parity.breakages import BREAKAGES
from parity.compare import Comparison, cosine, top_k
from parity.suite import HUB_GRAPH_CLIPS, HUB_SHAPE, JOINT, SHAPES, STREAMS, Suite

# The joint 'playing cricket' logit of published conversions against DeepMind's TF (41.81, rgb_imagenet +
# flow_imagenet on the official .npy): the figures cited in issue 3, and hassony2/kinetics_i3d_pytorch's README.
ANCHORS = (
    ("published PyTorch conversion (cited in issue 3)", 41.81, 44.53),
    ("published PyTorch conversion (cited in issue 3)", 41.81, 42.84),
    ("hassony2/kinetics_i3d_pytorch README", 41.8137, 46.11447),
)
PACKAGES = ("numpy", "torch", "tensorflow", "tensorflow-hub", "tf-keras")
_LOGITS = ("tf_logits", "torch_logits", "tf_nudged_logits")


def environment() -> dict[str, str]:
    """Versions and CPU: fp32 rounding, so the figures, depend on the kernels this machine runs."""
    import torch

    env = {"python": sys.version.split()[0], "platform": platform.platform()}
    env.update({package: metadata.version(package) for package in PACKAGES})
    env["cpu"] = _cpu_model()
    env["torch threads"] = str(torch.get_num_threads())
    env["TF_ENABLE_ONEDNN_OPTS"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: TF's default, oneDNN on)")
    return env


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} logical CPUs)"
    return f"{platform.processor() or 'unknown'} ({os.cpu_count()} logical CPUs)"


def endpoints(comparison: Comparison) -> dict[str, dict]:
    """Per endpoint: the measured figures plus the end-to-end bound they are judged by."""
    return {
        name: {**diff.as_dict(), "bound": thresholds.endpoint_bound(diff.floor_rel)}
        for name, diff in comparison.diffs.items()
    }


def top5(tf_logits: np.ndarray, torch_logits: np.ndarray, labels: list[str] | None) -> dict[str, list]:
    return {"tensorflow": top_k(tf_logits[0], labels), "pytorch": top_k(torch_logits[0], labels)}


def stream(suite: Suite, name: str) -> dict:
    checkpoint = suite.checkpoint(name)
    comparison = suite.cricket(name)
    return {
        "checkpoint": {"name": checkpoint.name, "origin": checkpoint.origin, "note": checkpoint.note},
        "clip_shape": list(comparison.clip_shape),
        "endpoints": endpoints(comparison),
        "top5": top5(comparison.tf_logits, comparison.torch_logits, suite.labels(name)),
        "violations": thresholds.violations(name, comparison),
    }


def joint(suite: Suite) -> dict:
    """rgb + flow logits, summed on each side, as DeepMind's evaluate_sample does."""
    parts = [suite.cricket(name) for name in JOINT]
    tf_sum, torch_sum, nudged_sum = (sum(getattr(c, field) for c in parts) for field in _LOGITS)
    max_abs = float(np.abs(torch_sum - tf_sum).max())
    floor_abs = float(np.abs(nudged_sum - tf_sum).max())
    return {
        "streams": list(JOINT),
        "max_abs": max_abs,
        "rel": max_abs / float(np.abs(tf_sum).max()),
        "cosine": cosine(torch_sum, tf_sum),
        "floor_abs": floor_abs,
        "bound": thresholds.logits_bound(floor_abs),
        "top5": top5(tf_sum, torch_sum, suite.labels(JOINT[0])),
        "violations": thresholds.logits_violations("joint", max_abs, floor_abs),
    }


def shapes(suite: Suite) -> list[dict]:
    rows = []
    for name, shape in SHAPES:
        comparison = suite.shape(name, shape)
        worst, diff = max(comparison.diffs.items(), key=lambda item: item[1].rel)
        logits = comparison.diffs["Logits"]
        rows.append(
            {
                "stream": name,
                "shape": list(shape),
                "worst_endpoint": worst,
                "worst_rel": diff.rel,
                "worst_floor_rel": diff.floor_rel,
                "worst_bound": thresholds.endpoint_bound(diff.floor_rel),
                "worst_alone_rel": comparison.worst("alone_rel"),
                "logits_max_abs": logits.max_abs,
                "logits_ref_max": logits.ref_max,
                "logits_floor_abs": logits.floor_abs,
                "logits_bound": thresholds.logits_bound(logits.floor_abs),
                "violations": thresholds.violations(f"{name} {shape}", comparison),
            }
        )
    return rows


def hub(suite: Suite) -> dict:
    reference = suite.shape("rgb", HUB_SHAPE)
    paths = {
        path: {
            "max_abs_vs_reference": float(np.abs(logits - reference.tf_logits).max()),
            "bit_identical": bool(np.array_equal(logits, reference.tf_logits)),
            "max_abs_vs_pytorch": float(np.abs(logits - reference.torch_logits).max()),
        }
        for path, logits in suite.hub().items()
    }
    return {"clip_shape": list(HUB_SHAPE), "paths": paths}


def hub_graph(suite: Suite) -> dict:
    """DeepMind's own graph (the TF-Hub module) against our model and our TF re-implementation, logits only
    (the module exposes nothing else); absent without the module's shared files."""
    if suite.hub_module is None:
        return {"available": False, "clips": []}
    labels = suite.labels("rgb")
    rows = []
    for shape in HUB_GRAPH_CLIPS:
        theirs, reference, ours = suite.hub_graph(shape)
        top = int(theirs[0].argmax())
        rows.append(
            {
                "clip": "cricket" if shape is None else "cut",
                "shape": list(suite.clip("rgb").shape[:4] if shape is None else shape),
                "max_abs_vs_pytorch": float(np.abs(ours - theirs).max()),
                "max_abs_vs_reference": float(np.abs(reference - theirs).max()),
                "ref_max": float(np.abs(theirs).max()),
                "top": labels[top] if labels else str(top),
                "top_logit": float(theirs[0, top]),
                "pytorch_top_logit": float(ours[0, top]),
            }
        )
    return {"available": True, "clips": rows}


def broken(suite: Suite) -> list[dict]:
    rows = []
    for name, breakage in BREAKAGES.items():
        comparison = suite.broken(name)
        found = thresholds.violations(name, comparison)
        rows.append(
            {
                "breakage": name,
                "what": (breakage.__doc__ or "").strip(),
                "worst_rel": comparison.worst("rel"),
                "worst_alone_rel": comparison.worst("alone_rel"),
                "logits_max_abs": comparison.diffs["Logits"].max_abs,
                "violations": len(found),
                "first_violation": found[0] if found else None,
            }
        )
    return rows


def anchors(joint_result: dict) -> dict:
    """Published conversions' |Δ| on the joint top logit, beside ours (max over all 400 logits)."""
    tf_top, torch_top = joint_result["top5"]["tensorflow"][0], joint_result["top5"]["pytorch"][0]
    return {
        "published": [
            {"what": what, "tensorflow": tf, "pytorch": pt, "abs_diff": abs(pt - tf)} for what, tf, pt in ANCHORS
        ],
        "ours": {
            "label": tf_top[1],
            "tensorflow": tf_top[2],
            "pytorch": torch_top[2],
            "max_abs": joint_result["max_abs"],
        },
    }


def collect(suite: Suite) -> dict:
    """Run (or reuse) every comparison of the suite and gather the figures."""
    result = {
        "environment": environment(),
        "input": {
            "source": suite.sample.source,
            "rgb_shape": list(suite.sample.rgb.shape),
            "flow_shape": list(suite.sample.flow.shape),
        },
        "thresholds": {
            "logits_abs": thresholds.LOGITS_ABS,
            "endpoint_rel": thresholds.ENDPOINT_REL,
            "floor_factor": thresholds.FLOOR_FACTOR,
            "floor_cap": thresholds.FLOOR_CAP,
        },
        "streams": {name: stream(suite, name) for name in STREAMS},
        "joint": joint(suite),
        "shapes": shapes(suite),
        "hub": hub(suite),
        "hub_graph": hub_graph(suite),
        "broken": broken(suite),
    }
    result["anchors"] = anchors(result["joint"])
    return result
