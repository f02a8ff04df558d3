"""TensorFlow V2 checkpoints (tensor_bundle) read and written in pure Python: no TensorFlow needed."""

from __future__ import annotations

from converter.tfbundle.reader import (
    OBJECT_GRAPH_KEY,
    BundleIndex,
    BundleReader,
    Entry,
    load_index,
    masked_crc32c,
    read_index,
)
from converter.tfbundle.writer import write_bundle

__all__ = [
    "OBJECT_GRAPH_KEY",
    "BundleIndex",
    "BundleReader",
    "Entry",
    "load_index",
    "masked_crc32c",
    "read_index",
    "write_bundle",
]
