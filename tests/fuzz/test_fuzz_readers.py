"""Mutated and truncated inputs for every reader: only ``ConversionError`` (naming the file and the
reason) may come out, each input is dealt with in bounded time, and nothing gets executed.

Seeds are small valid files of every format (TF checkpoint index and data, a TF V1 checkpoint, TF2
SavedModel variables and its object graph, Keras HDF5 of both layouts, Flax and PyTorch pickles, including hostile ones,
safetensors); each case applies one to three random mutations (bit flips, overwritten bytes or
integers, truncation, deleted or duplicated chunks) to one seed and reads the result end to end.
CI runs a few hundred cases; ``make fuzz`` (``-m slow``) runs the full campaign and prints its figures.
"""

from __future__ import annotations

import faulthandler
import pickle
import resource
import shutil
import signal
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.readers import open_source
from converter.readers.keras_h5 import CHILD_CODE
from converter.readers.savedmodel import _object_names
from converter.tfbundle import OBJECT_GRAPH_KEY, BundleReader, write_bundle

CI_CASES = 300
FULL_CASES = 12_000
# Asserted in CPU seconds of this process and its children (HDF5 inputs start a sandboxed interpreter), which
# a busy machine does not inflate as it does wall time; the real maximum is reported.
PER_INPUT_LIMIT_S = 5.0
HANG_LIMIT_S = 30  # a case still running then is a hang: Python-level loops are interrupted,
HARD_LIMIT_S = 120  # and a stuck C call kills the run with a traceback rather than hanging CI
COMMAND_EVENTS = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen")
_commands: list[str] | None = None  # audit events seen while a case runs; None when not watching


def _audit(event: str, args: tuple) -> None:
    if _commands is not None and event in COMMAND_EVENTS and not _is_hdf5_sandbox(event, args):
        _commands.append(f"{event}{args!r:.200}")


def _is_hdf5_sandbox(event: str, args: tuple) -> bool:
    """The Keras reader's own child interpreter (its fixed code, the input path) is no command from a file."""
    return event == "subprocess.Popen" and list(args[1][:3]) == [sys.executable, "-c", CHILD_CODE]


sys.addaudithook(_audit)  # hooks cannot be removed; this one only records while a campaign runs


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@dataclass(frozen=True)
class Seed:
    """One valid input: its files (relative path -> bytes), the one that gets mutated, the path to open."""

    name: str
    files: dict[str, bytes]
    target: str
    entry: str


def _read_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "layer/kernel": rng.standard_normal((2, 3, 4)).astype(np.float32),
        "layer/bias": np.arange(4, dtype=np.int64),
        "scale": np.array(0.5, dtype=np.float16),
    }


def build_seeds(work: Path, marker: Path) -> list[Seed]:
    """Small valid files of every format the readers take (TF-made ones when TensorFlow is here)."""
    seeds: list[Seed] = []

    def add(name: str, build: Callable[[Path], str], *targets: str) -> None:
        root = work / name
        root.mkdir()
        entry = build(root)
        files = _read_files(root)
        seeds.extend(Seed(f"{name}:{t}", files, t, entry) for t in targets)

    tensors = _tensors()

    def checkpoint(root: Path) -> str:
        write_bundle(root / "model.ckpt", tensors)
        return "model.ckpt"

    add("tf-checkpoint", checkpoint, "model.ckpt.index", "model.ckpt.data-00000-of-00001")

    def tf1_module(root: Path) -> str:
        (root / "variables").mkdir()
        write_bundle(root / "variables" / "variables", tensors)
        return "."

    add("tf1-module", tf1_module, "variables/variables.index")

    def keras_legacy(root: Path) -> str:
        import h5py

        with h5py.File(root / "w.h5", "w") as f:
            f.attrs["layer_names"] = np.array([b"conv", b"bn"])
            f.attrs["keras_version"] = b"2.15.0"
            for layer, weights in (("conv", ("kernel",)), ("bn", ("beta", "moving_mean"))):
                group = f.create_group(layer)
                group.attrs["weight_names"] = np.array([f"{layer}/{w}:0".encode() for w in weights])
                for w in weights:
                    group[f"{layer}/{w}:0"] = tensors["layer/kernel"][0]
        return "w.h5"

    add("keras-legacy", keras_legacy, "w.h5")

    def keras3(root: Path) -> str:
        import h5py

        with h5py.File(root / "w.weights.h5", "w") as f:
            f.create_group("vars").attrs["name"] = "model"
            for layer, count in (("conv3d", 2), ("batch_normalization", 3)):
                group = f.create_group(f"layers/{layer}/vars")
                group.attrs["name"] = f"{layer}_named"
                for i in range(count):
                    group[str(i)] = tensors["layer/kernel"][i % 2]
        return "w.weights.h5"

    add("keras3", keras3, "w.weights.h5")

    def flax(root: Path) -> str:
        tree = {"params": {"Conv_0": {"kernel": tensors["layer/kernel"]}}, "batch_stats": {"mean": tensors["scale"]}}
        (root / "v3.ckpt").write_bytes(pickle.dumps(tree, protocol=3))
        (root / "v4.ckpt").write_bytes(pickle.dumps(tree, protocol=4))
        (root / "evil.ckpt").write_bytes(pickle.dumps({"params": {"x": _Evil(marker)}}, protocol=4))
        return "v3.ckpt"

    for name in ("v3.ckpt", "v4.ckpt", "evil.ckpt"):
        root = work / f"flax-{name}"
        root.mkdir()
        flax(root)
        seeds.append(Seed(f"flax:{name}", {name: (root / name).read_bytes()}, name, name))

    def torch_files(root: Path) -> None:
        import torch

        state = {k: torch.from_numpy(v.copy()) for k, v in tensors.items()}
        torch.save(state, root / "zip.pt")
        torch.save(state, root / "legacy.pt", _use_new_zipfile_serialization=False)
        torch.save({"w": torch.ones(2)}, root / "evil.pt")
        import zipfile

        with zipfile.ZipFile(root / "evil.pt") as archive:
            members = {n: archive.read(n) for n in archive.namelist()}
        pkl = next(n for n in members if n.endswith("/data.pkl"))
        members[pkl] = pickle.dumps({"w": _Evil(marker)}, protocol=2)
        with zipfile.ZipFile(root / "evil.pt", "w") as archive:
            for n, data in members.items():
                archive.writestr(n, data)
        # a training checkpoint: the weights read, the hostile extra stays an inert placeholder
        torch.save({"state_dict": state, "epoch": 3, "hook": _Evil(marker)}, root / "extras.pt")

    root = work / "torch"
    root.mkdir()
    torch_files(root)
    for name in ("zip.pt", "legacy.pt", "evil.pt", "extras.pt"):
        seeds.append(Seed(f"torch:{name}", {name: (root / name).read_bytes()}, name, name))

    def safetensors(root: Path) -> str:
        from converter.writers import write_weights

        write_weights(root / "w.safetensors", tensors, {"architecture": "i3d", "config": "{}"})
        return "w.safetensors"

    add("safetensors", safetensors, "w.safetensors")

    try:
        import tensorflow as tf
    except ImportError:
        return seeds

    def tf2_savedmodel(root: Path) -> str:
        module = tf.Module()
        module.weights = {k: tf.Variable(v) for k, v in tensors.items()}
        tf.saved_model.save(module, str(root / "saved"))
        (root / "saved" / "saved_model.pb").unlink()  # the reader needs the variables only
        shutil.rmtree(root / "saved" / "assets", ignore_errors=True)
        return "saved"

    add("tf2-savedmodel", tf2_savedmodel, "saved/variables/variables.index")

    def tf_v1_checkpoint(root: Path) -> str:
        graph = tf.Graph()
        with graph.as_default():
            for name, value in tensors.items():
                tf.compat.v1.get_variable(name, initializer=value)
            part = tf.compat.v1.fixed_size_partitioner(3)
            tf.compat.v1.get_variable("part", shape=(6, 2), partitioner=part)  # assembled from three slices
            saver = tf.compat.v1.train.Saver(write_version=tf.compat.v1.train.SaverDef.V1)
            with tf.compat.v1.Session(graph=graph) as session:
                session.run(tf.compat.v1.global_variables_initializer())
                saver.save(session, str(root / "v1.ckpt"), write_meta_graph=False, write_state=False)
        return "v1.ckpt"

    add("tf-v1", tf_v1_checkpoint, "v1.ckpt")
    return seeds


def object_graph_seed(seeds: list[Seed], work: Path) -> bytes | None:
    """The serialized object graph of the TF2 seed, for fuzzing its parser directly (the data file's CRC
    would otherwise stop every mutation of it before the parser runs)."""
    seed = next((s for s in seeds if s.name.startswith("tf2-savedmodel")), None)
    if seed is None:
        return None
    root = work / "graph"
    for name, data in seed.files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    with BundleReader(root / "saved" / "variables" / "variables") as bundle:
        return bundle.read_bytes(OBJECT_GRAPH_KEY)


def mutate(data: bytes, rng: np.random.Generator) -> tuple[bytes, list[str]]:
    """One to three random mutations; returns the bytes and what was done (to reproduce a failure)."""
    out = bytearray(data)
    done = []
    for _ in range(int(rng.integers(1, 4))):
        size = len(out)
        kind = int(rng.integers(0, 6)) if size else 4
        at = int(rng.integers(0, max(size, 1)))
        if kind == 0:
            for _ in range(int(rng.integers(1, 9))):
                bit = int(rng.integers(0, size * 8))
                out[bit // 8] ^= 1 << (bit % 8)
            done.append("flip")
        elif kind == 1:
            value = int(rng.choice([0x00, 0xFF, 0x7F, 0x80, int(rng.integers(0, 256))]))
            out[at : at + int(rng.integers(1, 5))] = bytes([value]) * len(out[at : at + 4])
            done.append(f"set@{at}")
        elif kind == 2:
            width = int(rng.choice([2, 4, 8]))
            value = int(rng.choice([0, 1, 2**31 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1, int(rng.integers(0, 2**31))]))
            out[at : at + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
            done.append(f"int{width * 8}@{at}")
        elif kind == 3:
            del out[at:]
            done.append(f"truncate@{at}")
        elif kind == 4:
            chunk = bytes(out[at : at + int(rng.integers(1, 64))]) or b"\x00"
            out[at:at] = chunk
            done.append(f"insert@{at}")
        else:
            del out[at : at + int(rng.integers(1, 64))]
            done.append(f"delete@{at}")
    return bytes(out), done


def exercise(path: Path) -> str:
    """Open and read everything; 'read' or 'refused' (a ConversionError naming the file and a reason)."""
    try:
        source = open_source(path)
        for key in source.keys():
            source.shape(key)
            source.dtype(key)
            source.read(key)
    except ConversionError as err:
        if not err.reason or (err.path is None):
            raise AssertionError(f"error without file or reason: {err!r}") from None
        return "refused"
    return "read"


@dataclass
class Campaign:
    cases: int = 0
    outcomes: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    slowest_by_format: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.cases} cases in {self.seconds:.1f} s ({1000 * self.seconds / max(self.cases, 1):.1f} ms each), "
            f"max {self.slowest[0] * 1000:.0f} CPU-ms per input ({self.slowest[1]}), "
            f"outcomes {dict(sorted(self.outcomes.items()))}, {len(self.failures)} failures; "
            f"max ms by format { ({k: round(v * 1000) for k, v in sorted(self.slowest_by_format.items())}) }"
        )


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang(f"still running after {HANG_LIMIT_S} s")


def _run_case(kind: Seed | None, data: bytes, folder: Path) -> str:
    """Write the case and read it: 'read', 'refused', or an exception escapes."""
    if kind is None:
        _object_names(Path("graph"), data)
        return "read"
    shutil.rmtree(folder, ignore_errors=True)
    for rel, original in kind.files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data if rel == kind.target else original)
    return exercise(folder / kind.entry)


def run_campaign(
    seeds: list[Seed], graph: bytes | None, cases: int, work: Path, marker: Path, seed: int = 0
) -> Campaign:
    """``cases`` mutated inputs, round robin over the seeds (and the object graph parser)."""
    global _commands
    result = Campaign()
    kinds = [*seeds, None] if graph is not None else list(seeds)  # None: the object graph parser itself
    previous = signal.signal(signal.SIGALRM, _alarm)
    _commands = []
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about odd pickle protocols in mutated files
            for case in range(cases):
                kind = kinds[case % len(kinds)]
                name = "object-graph" if kind is None else kind.name
                data, done = mutate(
                    graph if kind is None else kind.files[kind.target], np.random.default_rng((seed, case))
                )
                where = f"{name} case {case} {done}"
                faulthandler.dump_traceback_later(HARD_LIMIT_S, exit=True)
                signal.setitimer(signal.ITIMER_REAL, HANG_LIMIT_S)
                began = _cpu_seconds()
                try:
                    outcome = _run_case(kind, data, work / "case")
                except ConversionError:
                    outcome = "refused"
                except Exception as err:  # anything else is the finding (a hang arrives as _Hang)
                    outcome = "FAILED"
                    result.failures.append(f"{where}: {type(err).__name__}: {str(err)[:200]}")
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    faulthandler.cancel_dump_traceback_later()
                took, fmt = _cpu_seconds() - began, name.split(":")[0]
                result.slowest = max(result.slowest, (took, where))
                result.slowest_by_format[fmt] = max(result.slowest_by_format.get(fmt, 0.0), took)
                result.outcomes[f"{fmt}:{outcome}"] += 1
                result.cases += 1
                if marker.exists():
                    result.failures.append(f"{where}: the hostile pickle ran (marker created)")
                    marker.unlink()
                if _commands:
                    result.failures.append(f"{where}: commands ran: {_commands[:3]}")
                    _commands.clear()
    finally:
        _commands = None
        signal.signal(signal.SIGALRM, previous)
        result.seconds = time.perf_counter() - start
    return result


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzz")
    marker = work / "pwned"
    (work / "seeds").mkdir()
    seeds = build_seeds(work / "seeds", marker)
    for seed in seeds:  # every seed is valid, except the hostile ones, which are refused
        folder = work / "check" / seed.name.replace(":", "_")
        for rel, data in seed.files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        expected = "refused" if "evil" in seed.name else "read"
        assert exercise(folder / seed.entry) == expected, seed.name
    assert not marker.exists()
    return seeds, object_graph_seed(seeds, work), work, marker


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (user + system)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _check(campaign: Campaign) -> None:
    print(f"\nfuzz: {campaign.summary()}")
    assert campaign.failures == [], "\n".join(campaign.failures[:20])
    assert campaign.slowest[0] < PER_INPUT_LIMIT_S, campaign.slowest


def test_fuzz_readers_ci_share(corpus):
    seeds, graph, work, marker = corpus
    campaign = run_campaign(seeds, graph, CI_CASES, work, marker)
    _check(campaign)
    assert campaign.outcomes and any(k.endswith(":refused") for k in campaign.outcomes)


@pytest.mark.slow
def test_fuzz_readers_full(corpus):
    seeds, graph, work, marker = corpus
    _check(run_campaign(seeds, graph, FULL_CASES, work, marker, seed=1))
