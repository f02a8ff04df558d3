"""``convert`` with TensorFlow's own checkpoint reader in place of ours, for the conversion benchmark.

``python -m benchmarks.tf_reader_convert PREFIX OUT`` runs the same plan, verification, metadata and
writer as ``python -m converter convert PREFIX --out OUT``; only the reading goes through
``tf.train.load_checkpoint``. The two outputs are byte-identical, so the timings compare the readers
(and the cost of importing TensorFlow, which the pure reader avoids).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from converter.conversion import metadata
from converter.engine import select_table
from converter.hashing import sha256_files
from converter.mapping import load_tables
from converter.tfbundle import OBJECT_GRAPH_KEY
from converter.writers import write_weights


class TFReaderSource:
    """The ``converter.readers.Source`` interface over ``tf.train.load_checkpoint``."""

    format = "tf-checkpoint"

    def __init__(self, prefix: Path) -> None:
        import tensorflow as tf

        self.path = prefix
        self._reader = tf.train.load_checkpoint(str(prefix))
        self._shapes = self._reader.get_variable_to_shape_map()
        self._dtypes = self._reader.get_variable_to_dtype_map()

    def files(self) -> list[Path]:
        shards = sorted(self.path.parent.glob(f"{self.path.name}.data-*"))
        return [self.path.with_name(f"{self.path.name}.index"), *shards]

    def keys(self) -> list[str]:
        return sorted(k for k in self._shapes if k != OBJECT_GRAPH_KEY)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._shapes[key])

    def dtype(self, key: str) -> np.dtype:
        return np.dtype(self._dtypes[key].as_numpy_dtype)

    def read(self, key: str) -> np.ndarray:
        return self._reader.get_tensor(key)


def main(argv: list[str]) -> int:
    prefix, out = Path(argv[0]), Path(argv[1])
    source = TFReaderSource(prefix)
    source_sha256 = sha256_files(source.files())
    plan = select_table(source, load_tables())
    write_weights(out, plan.tensors(), metadata(plan, argv[0], source_sha256()), "safetensors", force=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
