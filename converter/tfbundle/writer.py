"""Write numpy arrays as a single-shard TensorFlow V2 checkpoint that ``tf.train.load_checkpoint`` reads.

Used to run mappings backwards (PyTorch → TF) and to make test fixtures without TensorFlow. Bytes
and CRCs are what TF's BundleWriter produces; the files appear by rename only once both are
complete, so a failure leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from converter.errors import ConversionError
from converter.outputs import make_parent
from converter.tfbundle.proto import encode_entry, encode_header, tf_dtype
from converter.tfbundle.table import build_table, masked_crc32c


def _temp(directory: Path, name: str) -> Path:
    handle, path = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    os.close(handle)
    return Path(path)


def _checked(prefix: Path, tensors: Mapping[str, np.ndarray]) -> list[tuple[bytes, int, np.ndarray]]:
    """(UTF-8 name, TF dtype, little-endian C-ordered array) sorted by key; rejects what TF cannot hold."""
    out = []
    for name, value in tensors.items():
        # "" is the header's key and keys starting with NUL are slices of partitioned tensors.
        if not isinstance(name, str) or not name or name.startswith("\0"):
            raise ConversionError(prefix, f"tensor name {name!r} is not usable as a checkpoint key")
        try:
            key = name.encode("utf-8")
        except UnicodeEncodeError:
            raise ConversionError(prefix, f"tensor name {name!r} is not valid Unicode") from None
        array = np.asarray(value)
        code = tf_dtype(array.dtype)
        if code is None:
            raise ConversionError(prefix, f"tensor {name!r}: dtype {array.dtype} has no checkpoint encoding")
        out.append((key, code, array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)))
    return sorted(out, key=lambda item: item[0])


def write_bundle(prefix: str | os.PathLike[str], tensors: Mapping[str, np.ndarray]) -> None:
    """Write ``PREFIX.index`` and ``PREFIX.data-00000-of-00001`` holding ``tensors``."""
    prefix = Path(prefix)
    items = _checked(prefix, tensors)
    make_parent(prefix)
    data_path = prefix.with_name(f"{prefix.name}.data-00000-of-00001")
    index_path = prefix.with_name(f"{prefix.name}.index")
    data_tmp = index_tmp = None
    renamed = False
    try:
        data_tmp = _temp(prefix.parent, data_path.name)
        index_tmp = _temp(prefix.parent, index_path.name)
        entries = [(b"", encode_header(1))]
        offset = 0
        with open(data_tmp, "wb") as file:
            for key, code, array in items:
                data = memoryview(array.reshape(-1).view(np.uint8))
                file.write(data)
                crc = masked_crc32c(data)
                entries.append((key, encode_entry(code, array.shape, offset, len(data), crc)))
                offset += len(data)
            file.flush()
            os.fsync(file.fileno())
        with open(index_tmp, "wb") as file:
            file.write(build_table(entries))
            file.flush()
            os.fsync(file.fileno())
        os.replace(data_tmp, data_path)
        renamed = True
        os.replace(index_tmp, index_path)
    except OSError as err:
        if renamed:
            data_path.unlink(missing_ok=True)
        raise ConversionError(prefix, f"cannot write checkpoint: {err.strerror or err}") from None
    finally:
        for path in (data_tmp, index_tmp):
            if path is not None:
                path.unlink(missing_ok=True)
