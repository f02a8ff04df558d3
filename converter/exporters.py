"""Our weights written in other people's layouts: the official TF checkpoint, a TF2 SavedModel, the two
PyTorch ports' state_dicts and the Keras port's HDF5, each by running its mapping table backwards.

A target is staged in a temporary folder beside the output, read back with this toolkit's own reader
and table and compared bit for bit with the parameters it was made from, and only then moved into
place (data before index), so an output that exists is complete and proven to hold the weights.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converter.engine import export, plan
from converter.errors import ConversionError
from converter.hashing import sha256_files
from converter.mapping import load_table
from converter.outputs import check_parent, make_parent
from converter.readers import open_source
from converter.writers import Written, as_new_file


def official_scope(config: Mapping[str, Any]) -> str:
    """The variable scope DeepMind's checkpoints use: by stream, and none for the Kinetics-600 one."""
    if config.get("num_classes") == 600:
        return ""
    return "Flow/inception_i3d/" if config.get("in_channels") == 2 else "RGB/inception_i3d/"


def _write_checkpoint(path: Path, tensors: dict[str, np.ndarray], config: Mapping[str, Any]) -> None:
    from converter.tfbundle import write_bundle

    write_bundle(path, tensors)


def _write_savedmodel(path: Path, tensors: dict[str, np.ndarray], config: Mapping[str, Any]) -> None:
    """A TF2 SavedModel of the TF reference graph (``hub.load``-able): its variables in a dict ``weights``
    under the official names, and ``serve`` (also ``serving_default``), NTHWC in [-1, 1] to every endpoint."""
    try:
        import tensorflow as tf

        from converter.tf_reference import TFI3D
    except ImportError as err:
        raise ConversionError(path, f"--to tfhub needs TensorFlow (pip install 'i3d-converter[tf]'): {err}") from None
    work = path.with_name(f"{path.name}.ckpt")  # beside it in the staging folder, removed with it
    work.mkdir()
    _write_checkpoint(work / "model.ckpt", tensors, config)
    reference = TFI3D(work / "model.ckpt")
    module = tf.Module()  # only what a user loads: the weights and the function
    module.weights, module.serve = reference.weights, reference.serve
    tf.saved_model.save(module, str(path), signatures={"serving_default": reference.serve})


def _write_torch(path: Path, tensors: dict[str, np.ndarray], config: Mapping[str, Any]) -> None:
    """A bare state_dict, as the ports' own ``load_state_dict(torch.load(path))`` expects."""
    import torch

    state = {name: torch.from_numpy(np.require(array, requirements="C")) for name, array in tensors.items()}
    torch.save(state, path)  # np.require keeps a 0-d counter 0-d


def _write_keras(path: Path, tensors: dict[str, np.ndarray], config: Mapping[str, Any]) -> None:
    """Keras' HDF5 weights layout (``save_weights`` to ``.h5``), layers and weights in the order given.

    Keras loads such a file by position (or ``by_name=True``), so the table's ``order`` puts the layers
    in the order of the Keras model's own ``layers``.
    """
    try:
        import h5py
    except ImportError:
        raise ConversionError(path, "Keras HDF5 needs h5py: pip install 'i3d-converter[keras]'") from None

    layers: dict[str, list[tuple[str, np.ndarray]]] = {}
    for key, array in tensors.items():
        layer, weight = key.split("/", 1)
        layers.setdefault(layer, []).append((f"{layer}/{weight}:0", array))
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([name.encode() for name in layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.15.0"  # the layout's version: Keras converts files marked 1.x
        for layer, weights in layers.items():
            group = f.create_group(layer)
            group.attrs["weight_names"] = np.array([name.encode() for name, _ in weights])
            for name, array in weights:
                group.create_dataset(name, data=array)


@dataclass(frozen=True)
class Target:
    """A layout we write: the table that names its tensors, the writer, and the table that reads it back."""

    table: str
    write: Callable[[Path, dict[str, np.ndarray], Mapping[str, Any]], None]
    suffix: str  # default output: SRC's stem + suffix
    read_table: str
    scoped: bool = False  # tensors go under the official scope
    endings: tuple[str, ...] = ("",)  # what the writer appends to --out, in commit order (index last)

    def outputs(self, out: Path) -> list[Path]:
        """The paths the target creates, in commit order."""
        return [out.with_name(out.name + ending) for ending in self.endings]


TARGETS: dict[str, Target] = {
    "deepmind": Target("deepmind", _write_checkpoint, ".ckpt", "deepmind", True, (".data-00000-of-00001", ".index")),
    "tfhub": Target("deepmind", _write_savedmodel, "_savedmodel", "tfhub", scoped=True),
    "piergiaj": Target("piergiaj", _write_torch, "_piergiaj.pt", "piergiaj"),
    "hassony2": Target("hassony2", _write_torch, "_hassony2.pth", "hassony2"),
    "keras": Target("keras_i3d", _write_keras, "_keras.h5", "keras_i3d"),
}


def target(name: str) -> Target:
    if name not in TARGETS:
        raise ConversionError(None, f"unknown target {name!r} (known: {', '.join(TARGETS)})")
    return TARGETS[name]


def check_writable(name: str, out: Path, *, force: bool) -> None:
    """Refuse before any work: an existing output (without ``force``) or a missing folder."""
    check_parent(out)
    existing = [path for path in target(name).outputs(out) if path.exists()]
    if existing and not force:
        raise ConversionError(existing[0], "output exists (use --force to overwrite)")


def export_to(
    name: str, state: Mapping[str, np.ndarray], config: Mapping[str, Any], out: Path, *, force: bool = False
) -> Written:
    """Write ``state`` (our parameter names) as target ``name`` at ``out``, proven by reading it back."""
    spec, out = target(name), Path(out)
    check_writable(name, out, force=force)
    exported = export(state, load_table(spec.table), prefix=official_scope(config) if spec.scoped else "")
    make_parent(out)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        staged = Path(tmp) / out.name
        try:
            spec.write(staged, exported, config)
        except ConversionError as err:
            raise ConversionError(out, f"cannot write {name}: {err.reason}") from None
        except (OSError, ValueError, TypeError) as err:
            raise ConversionError(out, f"cannot write {name}: {err}") from None
        _verify(out, staged, spec, state)
        for produced, final in zip(spec.outputs(staged), spec.outputs(out), strict=True):
            _move(produced, final, Path(tmp))
    files = sorted(f for path in spec.outputs(out) for f in ([path] if path.is_file() else path.rglob("*")))
    files = [f for f in files if f.is_file()]
    return Written(out, sha256_files(files)(), sum(f.stat().st_size for f in files))


def _verify(out: Path, staged: Path, spec: Target, state: Mapping[str, np.ndarray]) -> None:
    """Read the staged output back through its own table: every parameter must come back bit for bit."""
    the_plan = plan(open_source(staged), load_table(spec.read_table))
    if the_plan.report.problems():
        raise ConversionError(out, f"written file does not read back cleanly: {the_plan.report.summary()}")
    tensors = the_plan.tensors()
    if set(tensors) != set(state):
        raise ConversionError(out, f"read back {len(tensors)} parameters, wrote {len(state)}")
    for name, tensor in tensors.items():
        got, want = tensor.load(), np.asarray(state[name])
        if (got.dtype, got.shape) != (want.dtype, want.shape) or got.tobytes() != want.tobytes():
            raise ConversionError(out, f"{name} does not read back bit for bit")


def _move(produced: Path, final: Path, trash: Path) -> None:
    """Rename into place, readable as any new file is (temporary files are private); a directory being
    replaced is first moved aside into the temporary folder."""
    if produced.is_file():
        as_new_file(produced)
    if final.is_dir() and not final.is_symlink():
        os.replace(final, trash / f"replaced-{final.name}")
    os.replace(produced, final)
