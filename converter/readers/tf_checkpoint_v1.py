"""TensorFlow V1 checkpoints (``tf.train.Saver(write_version=V1)``, e.g. TF-slim's 2016 ImageNet
checkpoints such as ``inception_v1.ckpt``), read without TensorFlow.

A V1 checkpoint is one table file (``model.ckpt``, or shards ``model.ckpt-00000-of-00002``), the same
table format as a V2 index, every block CRC-checked. Its first entry (key ``""``) lists each tensor's
name, shape, dtype and saved slices (``SavedTensorSlices``, ``tfbundle.slices``); the other entries hold
the slices' values. A partitioned variable is assembled from its slices; slices that overlap or leave
part of it unwritten refuse that tensor by name.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from converter.errors import ConversionError
from converter.tfbundle.proto import WireError, dtype_label, numpy_dtype
from converter.tfbundle.slices import SavedSlice, SliceMeta, count, decode_data, decode_meta, decode_values, resolve
from converter.tfbundle.table import read_table

_TABLE_MAGIC = bytes.fromhex("57fb808b247547db")  # LevelDB table magic, little-endian
_SHARD = re.compile(r"(?P<prefix>.*)-(?P<index>\d{5})-of-(?P<count>\d{5})")


def shard_paths(path: Path) -> list[Path]:
    """The files of the checkpoint at ``path``: itself, all shards of the set it is one of, or the shards of
    the prefix it names (``model.ckpt`` → ``model.ckpt-?????-of-?????``); empty when there are none."""
    if not path.is_file():
        found = sorted(path.parent.glob(f"{path.name}-?????-of-?????")) if path.parent.is_dir() else []
        if not found:
            return []
        path = found[0]
    match = _SHARD.fullmatch(path.name)
    if match is None:
        return [path]
    total = int(match["count"])
    return [path.with_name(f"{match['prefix']}-{i:05d}-of-{total:05d}") for i in range(total)]


def sniff(path: Path) -> bool:
    if path.name.endswith(".index") or ".data-" in path.name or Path(f"{path}.index").exists():
        return False  # V2: the tf-checkpoint reader's
    shards = shard_paths(path)
    try:
        with shards[0].open("rb") as f:
            f.seek(-8, 2)
            return f.read(8) == _TABLE_MAGIC
    except (OSError, IndexError):
        return False


class TFCheckpointV1:
    """Names, shapes and dtypes from the metadata; a tensor's values are decoded (and its slices
    assembled) when it is read. The table itself is read whole on opening."""

    format = "tf-checkpoint-v1"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._files = shard_paths(path)
        if not self._files:
            raise ConversionError(path, "no such file or V1 checkpoint shards")
        missing = [f for f in self._files if not f.is_file()]
        if missing:
            raise ConversionError(missing[0], f"shard missing ({len(self._files)} expected)")
        self._meta: dict[str, SliceMeta] = {}
        self._data: dict[str, list[SavedSlice]] = {}
        for file in self._files:
            self._load(file)
        unsaved = [name for name, meta in self._meta.items() if meta.slices and name not in self._data]
        if unsaved:
            raise ConversionError(path, f"tensor {unsaved[0]!r} is listed but no slice of it is saved")

    def _load(self, file: Path) -> None:
        entries = read_table(file)
        if not entries or entries[0][0] != b"":
            raise ConversionError(file, "not a TF V1 checkpoint: no metadata entry (key '')")
        try:
            metas = decode_meta(entries[0][1])
        except WireError as err:
            raise ConversionError(file, f"not a TF V1 checkpoint: metadata entry: {err}") from None
        for meta in metas:
            known = self._meta.get(meta.name)
            if known is not None and (known.shape, known.dtype) != (meta.shape, meta.dtype):
                raise ConversionError(file, f"tensor {meta.name!r}: shards disagree on its shape or dtype")
            slices = (known.slices if known else ()) + meta.slices
            self._meta[meta.name] = SliceMeta(meta.name, meta.shape, meta.dtype, slices)
        for key, value, at in entries[1:]:
            try:
                saved = decode_data(value)
            except WireError as err:
                raise ConversionError(file, f"entry at offset {at} ({key[:40]!r}): {err}") from None
            if saved.name not in self._meta:
                raise ConversionError(file, f"entry at offset {at}: slice of {saved.name!r}, which the metadata lacks")
            self._data.setdefault(saved.name, []).append(saved)

    def files(self) -> list[Path]:
        return list(self._files)

    def keys(self) -> list[str]:
        return sorted(self._meta)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._meta[key].shape

    def dtype(self, key: str) -> np.dtype:
        meta = self._meta[key]
        dtype = numpy_dtype(meta.dtype)
        if dtype is None:
            raise ConversionError(self.path, f"tensor {key!r}: {dtype_label(meta.dtype)} is not supported")
        return dtype

    def read(self, key: str) -> np.ndarray:
        """The whole tensor, its slices placed where they belong; each element must be written exactly once."""
        meta, dtype = self._meta[key], self.dtype(key)
        size = sum(f.stat().st_size for f in self._files)
        if math.prod(meta.shape) > size:  # every value takes at least a byte: a bound before allocating
            raise ConversionError(self.path, f"tensor {key!r}: shape {list(meta.shape)} is more than {size} bytes hold")
        out = np.zeros(meta.shape, dtype=dtype)
        written = np.zeros(meta.shape, dtype=bool)
        for saved in self._data.get(key, []):
            try:
                where = resolve(saved.extents, meta.shape)
                values = decode_values(saved.tensor, meta.dtype, dtype, count(where))
            except WireError as err:
                raise ConversionError(self.path, f"tensor {key!r}: {err}") from None
            index = tuple(slice(start, start + length) for start, length in where)
            if written[index].any():
                raise ConversionError(self.path, f"tensor {key!r}: slice {_fmt(where)} overlaps another")
            out[index] = values.reshape([length for _, length in where])
            written[index] = True
        if not written.all():
            raise ConversionError(
                self.path,
                f"tensor {key!r}: its saved slices cover {int(written.sum())} of {written.size} values "
                f"(a partitioned variable with parts missing)",
            )
        return out


def _fmt(where: tuple[tuple[int, int], ...]) -> str:
    return "[" + ", ".join(f"{start}:{start + length}" for start, length in where) + "]"


def open(path: Path) -> TFCheckpointV1:  # noqa: A001 - the reader interface's name
    return TFCheckpointV1(path)
