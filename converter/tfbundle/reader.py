"""Read TensorFlow V2 checkpoints (tensor_bundle: ``PREFIX.index`` + ``PREFIX.data-NNNNN-of-MMMMM``).

Pure Python on numpy, so conversion needs no TensorFlow. Each tensor is read on its own straight
into a fresh array and its CRC32C checked before anyone sees it; no file is mapped whole, so a
conversion never holds a checkpoint twice. Everything that can be checked against the index and
the file sizes is checked when the reader opens, so a broken checkpoint fails before any work.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass
from io import FileIO
from math import prod
from pathlib import Path
from types import TracebackType

import google_crc32c
import numpy as np

from converter.errors import ConversionError
from converter.tfbundle.proto import (
    DT_BFLOAT16,
    DT_STRING,
    WireError,
    decode_entry,
    decode_header,
    dtype_label,
    numpy_dtype,
)
from converter.tfbundle.proto import read_varint as _read_varint
from converter.tfbundle.table import mask_crc, masked_crc32c, read_table

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
BUNDLE_VERSION = 1  # kTensorBundleVersion: the format version this reader implements

__all__ = ["OBJECT_GRAPH_KEY", "BundleIndex", "BundleReader", "Entry", "load_index", "masked_crc32c", "read_index"]


@dataclass(frozen=True)
class Entry:
    """One tensor as the index describes it; ``dtype`` is None for types we cannot read."""

    name: str
    dtype: np.dtype | None
    tf_dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int
    partitioned: bool


def _paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(prefix, index file) from either the prefix or the ``.index`` path."""
    given = Path(path)
    if given.name.endswith(".index"):
        return given.with_name(given.name[: -len(".index")]), given
    return given, given.with_name(given.name + ".index")


def _entry(index: Path, name: str, value: bytes, at: int, num_shards: int) -> Entry:
    """Decode and sanity-check one BundleEntryProto against the header and its own shape."""
    where = f"tensor {name!r} (index offset {at})"
    try:
        proto = decode_entry(value)
    except WireError as err:
        raise ConversionError(index, f"{where}: bad BundleEntryProto: {err}") from None
    if proto.shape is None or any(d < 0 for d in proto.shape):
        raise ConversionError(index, f"{where}: shape {proto.shape} is not fully defined")
    if not 0 <= proto.shard_id < num_shards:
        raise ConversionError(index, f"{where}: shard {proto.shard_id} but the header says {num_shards} shards")
    if proto.offset < 0 or proto.size < 0:
        raise ConversionError(index, f"{where}: negative offset {proto.offset} or size {proto.size}")
    dtype = numpy_dtype(proto.dtype)
    partitioned = proto.num_slices > 0
    if dtype is not None and not partitioned and prod(proto.shape) * dtype.itemsize != proto.size:
        raise ConversionError(
            index,
            f"{where}: size {proto.size} bytes does not match shape {proto.shape} x {dtype.itemsize} bytes",
        )
    return Entry(
        name=name,
        dtype=dtype,
        tf_dtype=proto.dtype,
        shape=proto.shape,
        shard_id=proto.shard_id,
        offset=proto.offset,
        size=proto.size,
        crc32c=proto.crc32c,
        partitioned=partitioned,
    )


@dataclass(frozen=True)
class BundleIndex:
    """A checkpoint's index file, decoded: enough to list it, and to read it when its shards are there."""

    prefix: Path
    num_shards: int
    entries: dict[str, Entry]


def load_index(path: str | os.PathLike[str]) -> BundleIndex:
    """The index of the checkpoint at ``path`` (its prefix or its ``.index`` file), data files untouched."""
    prefix, index = _paths(path)
    if not index.is_file():
        raise ConversionError(index, "checkpoint index file not found")
    items = read_table(index)
    if not items or items[0][0] != b"":
        raise ConversionError(index, "no bundle header (key '') at offset 0: not a TensorFlow V2 checkpoint index")
    try:
        header = decode_header(items[0][1])
    except WireError as err:
        raise ConversionError(index, f"bad BundleHeaderProto at offset {items[0][2]}: {err}") from None
    if header.num_shards < 1:
        raise ConversionError(index, f"header at offset {items[0][2]} says {header.num_shards} shards")
    if header.endianness != 0:
        raise ConversionError(index, "big-endian checkpoints are not supported")
    if header.min_consumer > BUNDLE_VERSION or BUNDLE_VERSION in header.bad_consumers:
        raise ConversionError(index, f"checkpoint format needs a reader of version >= {header.min_consumer}")
    entries: dict[str, Entry] = {}
    for key, value, at in items[1:]:
        if key.startswith(b"\0"):  # one slice of a partitioned tensor (checkpoint::EncodeTensorNameSlice)
            continue
        try:
            name = key.decode("utf-8")
        except UnicodeDecodeError:
            raise ConversionError(index, f"tensor name at offset {at} is not UTF-8: {key[:60]!r}") from None
        entries[name] = _entry(index, name, value, at, header.num_shards)
    return BundleIndex(prefix, header.num_shards, entries)


def read_index(path: str | os.PathLike[str]) -> dict[str, Entry]:
    """Every tensor the index lists (header excluded), without touching the data files."""
    return load_index(path).entries


class BundleReader:
    """Reads tensors of one checkpoint (its path, or its index already loaded); use as a context manager
    so shard files get closed."""

    def __init__(self, path: str | os.PathLike[str] | BundleIndex, *, verify_crc: bool = True) -> None:
        index = path if isinstance(path, BundleIndex) else load_index(path)
        self.path, self.num_shards, self.entries = index.prefix, index.num_shards, index.entries
        self.verify_crc = verify_crc
        self._files: dict[int, FileIO] = {}
        self._open = ExitStack()
        self._check_shards()

    def shard_path(self, shard_id: int) -> Path:
        """``PREFIX.data-00000-of-00001`` style name of one data file."""
        return self.path.with_name(f"{self.path.name}.data-{shard_id:05d}-of-{self.num_shards:05d}")

    def _check_shards(self) -> None:
        """Every data file a tensor lives in exists and is long enough for it."""
        last: dict[int, Entry] = {}
        for entry in self.entries.values():
            top = last.get(entry.shard_id)
            if not entry.partitioned and (top is None or entry.offset + entry.size > top.offset + top.size):
                last[entry.shard_id] = entry
        for shard_id, entry in sorted(last.items()):
            shard = self.shard_path(shard_id)
            try:
                size = shard.stat().st_size
            except OSError:
                raise ConversionError(shard, f"data file missing (tensor {entry.name!r} is in it)") from None
            if size < entry.offset + entry.size:
                raise ConversionError(
                    shard,
                    f"data file is {size} bytes but tensor {entry.name!r} ends at offset {entry.offset + entry.size}",
                )

    def keys(self) -> list[str]:
        """Sorted tensor names, without TF2's object graph entry."""
        return sorted(name for name in self.entries if name != OBJECT_GRAPH_KEY)

    def _lookup(self, name: str) -> Entry:
        entry = self.entries.get(name)
        if entry is None:
            raise ConversionError(self.path, f"no tensor {name!r} in the checkpoint")
        if entry.partitioned:
            raise ConversionError(self.path, f"tensor {name!r} is partitioned (saved in slices): not supported")
        return entry

    def _raw(self, entry: Entry) -> np.ndarray:
        """The tensor's bytes as a fresh uint8 array (CRC not checked here)."""
        shard = self.shard_path(entry.shard_id)
        try:
            file = self._files.get(entry.shard_id)
            if file is None:
                file = self._open.enter_context(FileIO(shard, "rb"))
                self._files[entry.shard_id] = file
            buf = np.empty(entry.size, dtype=np.uint8)
            view, done = memoryview(buf), 0
            file.seek(entry.offset)
            while done < entry.size:
                count = file.readinto(view[done:])
                if not count:
                    raise ConversionError(
                        shard,
                        f"tensor {entry.name!r}: file ended at offset {entry.offset + done}, "
                        f"{entry.size - done} bytes short",
                    )
                done += count
        except OSError as err:
            raise ConversionError(shard, f"cannot read tensor {entry.name!r}: {err.strerror or err}") from None
        return buf

    def _check_crc(self, entry: Entry, computed: int) -> None:
        if computed != entry.crc32c:
            raise ConversionError(
                self.shard_path(entry.shard_id),
                f"tensor {entry.name!r}: CRC32C mismatch in bytes {entry.offset}..{entry.offset + entry.size}"
                f" (stored {entry.crc32c:#010x}, computed {computed:#010x})",
            )

    def read(self, name: str) -> np.ndarray:
        """The tensor as a numpy array of its stored dtype and shape, its CRC verified."""
        entry = self._lookup(name)
        if entry.dtype is None:
            raise ConversionError(self.path, f"tensor {name!r}: {self._unsupported(entry)}")
        buf = self._raw(entry)
        if self.verify_crc:
            self._check_crc(entry, masked_crc32c(memoryview(buf)))
        return buf.view(entry.dtype).reshape(entry.shape)

    def read_bytes(self, name: str) -> bytes:
        """Raw little-endian bytes of a numeric tensor, or the value of a DT_STRING scalar.

        The second is how TF2 checkpoints store their object graph (a serialized
        TrackableObjectGraph under ``_CHECKPOINTABLE_OBJECT_GRAPH``).
        """
        entry = self._lookup(name)
        if entry.tf_dtype == DT_STRING and entry.shape == ():
            return self._string_scalar(entry)
        if entry.dtype is None:
            raise ConversionError(self.path, f"tensor {name!r}: {self._unsupported(entry)}")
        buf = self._raw(entry)
        if self.verify_crc:
            self._check_crc(entry, masked_crc32c(memoryview(buf)))
        return buf.tobytes()

    def _string_scalar(self, entry: Entry) -> bytes:
        """Decode ``[varint64 length][masked crc32c of the length as uint32/64][bytes]``."""
        raw = self._raw(entry).tobytes()
        shard = self.shard_path(entry.shard_id)
        try:
            length, pos = _read_varint(raw, 0, len(raw))
        except WireError as err:
            raise ConversionError(shard, f"tensor {entry.name!r} at offset {entry.offset}: {err}") from None
        if pos + 4 + length != len(raw):
            raise ConversionError(
                shard,
                f"tensor {entry.name!r} at offset {entry.offset}: string of {length} bytes "
                f"does not fill its {len(raw)}-byte record",
            )
        width = 4 if length <= 0xFFFFFFFF else 8
        crc = google_crc32c.value(length.to_bytes(width, "little"))
        checksum = raw[pos : pos + 4]
        if self.verify_crc:
            if int.from_bytes(checksum, "little") != mask_crc(crc):
                raise ConversionError(
                    shard, f"tensor {entry.name!r}: string length checksum mismatch at offset {entry.offset}"
                )
            self._check_crc(entry, mask_crc(google_crc32c.extend(google_crc32c.extend(crc, checksum), raw[pos + 4 :])))
        return raw[pos + 4 :]

    @staticmethod
    def _unsupported(entry: Entry) -> str:
        if entry.tf_dtype == DT_BFLOAT16:
            return "DT_BFLOAT16 needs the ml_dtypes package (pip install ml_dtypes)"
        return f"{dtype_label(entry.tf_dtype)} with shape {entry.shape}: not supported"

    def close(self) -> None:
        """Close the shard files opened so far."""
        self._open.close()
        self._files.clear()

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
