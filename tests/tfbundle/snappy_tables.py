"""Tables with snappy-compressed blocks, as TF1-era writers made them (our writer stays uncompressed)."""

from __future__ import annotations

from converter.tfbundle.proto import read_varint
from converter.tfbundle.table import FOOTER_SIZE, HANDLES_SIZE, SNAPPY_COMPRESSION, build_table, read_table


def recompress(path, block_size: int = 1024) -> int:
    """Rewrite the table at ``path`` with snappy blocks; returns its number of entries."""
    entries = [(key, value) for key, value, _ in read_table(path)]
    path.write_bytes(build_table(entries, block_size, SNAPPY_COMPRESSION))
    return len(entries)


def index_block_type(path) -> int:
    """The compression type in the index block's trailer (read off the footer)."""
    raw = path.read_bytes()
    footer = raw[-FOOTER_SIZE:]
    _, pos = read_varint(footer, 0, HANDLES_SIZE)
    _, pos = read_varint(footer, pos, HANDLES_SIZE)
    index_at, pos = read_varint(footer, pos, HANDLES_SIZE)
    index_size, _ = read_varint(footer, pos, HANDLES_SIZE)
    return raw[index_at + index_size]
