"""TensorFlow checkpoints (tensor_bundle V2: ``prefix.index`` + ``prefix.data-*``), read without TensorFlow."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from converter.errors import ConversionError
from converter.tfbundle import OBJECT_GRAPH_KEY, BundleReader, load_index
from converter.tfbundle.proto import dtype_label

_TABLE_MAGIC = bytes.fromhex("57fb808b247547db")  # LevelDB table magic 0xdb4775248b80fb57, little-endian


def index_path(path: Path) -> Path:
    """The ``.index`` file for a prefix (``model.ckpt``), an index path, or a data shard path."""
    if path.name.endswith(".index"):
        return path
    if ".data-" in path.name:
        return path.with_name(path.name.split(".data-")[0] + ".index")
    return path.with_name(path.name + ".index")


def folder_checkpoint(folder: Path) -> Path | None:
    """The checkpoint prefix a folder holds (``rgb_scratch_kin600/`` → ``…/model.ckpt``): the one its
    ``checkpoint`` file names (TF's latest), else its single ``*.index``; None when it holds none.

    Raises ConversionError naming them when there are several and no ``checkpoint`` file chooses.
    """
    state = folder / "checkpoint"
    if state.is_file():
        match = re.search(r'^model_checkpoint_path:\s*"(.*)"\s*$', state.read_text(errors="replace"), re.MULTILINE)
        if match:
            named = Path(match.group(1))
            prefix = named if named.is_absolute() else folder / named
            if index_path(prefix).is_file():
                return prefix
    prefixes = sorted(p.with_name(p.name.removesuffix(".index")) for p in folder.glob("*.index") if p.is_file())
    if len(prefixes) > 1:
        names = ", ".join(p.name for p in prefixes)
        raise ConversionError(folder, f"holds {len(prefixes)} checkpoints ({names}); name one, e.g. {prefixes[-1]}")
    if prefixes:
        return prefixes[0]
    inner = sorted(d.name for d in folder.iterdir() if d.is_dir() and any(d.glob("*.index")))
    if inner:  # the official repository's checkpoints/ folder: one folder per model
        names = ", ".join(inner)
        raise ConversionError(
            folder, f"holds {len(inner)} checkpoint folders ({names}); name one, e.g. {folder / inner[0]}"
        )
    return None


def sniff(path: Path) -> bool:
    index = index_path(path)
    try:
        with index.open("rb") as f:
            f.seek(-8, 2)
            return f.read(8) == _TABLE_MAGIC
    except OSError:
        return False


class TFCheckpoint:
    """Names, shapes and dtypes come from the index alone; the data shards are opened on first read."""

    format = "tf-checkpoint"

    def __init__(self, path: Path) -> None:
        self._index = index_path(path)
        self.path = self._index.with_name(self._index.name.removesuffix(".index"))
        self._loaded = load_index(self._index)
        self._entries = {k: v for k, v in self._loaded.entries.items() if k != OBJECT_GRAPH_KEY}
        self._reader: BundleReader | None = None

    @property
    def _bundle(self) -> BundleReader:
        if self._reader is None:
            self._reader = BundleReader(self._loaded)
        return self._reader

    def files(self) -> list[Path]:
        return [self._index] + [self._bundle.shard_path(i) for i in range(self._bundle.num_shards)]

    def keys(self) -> list[str]:
        return sorted(self._entries)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._entries[key].shape

    def dtype(self, key: str) -> np.dtype:
        dtype = self._entries[key].dtype
        if dtype is None:
            label = dtype_label(self._entries[key].tf_dtype)
            raise ConversionError(self.path, f"tensor {key!r}: {label} is not supported")
        return dtype

    def read(self, key: str) -> np.ndarray:
        return self._bundle.read(key)


def open(path: Path) -> TFCheckpoint:  # noqa: A001 - the reader interface's name
    return TFCheckpoint(path)
