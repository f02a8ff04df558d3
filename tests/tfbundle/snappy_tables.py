"""Tables with snappy-compressed blocks, as TF1-era writers made them (our writer stays uncompressed)."""

from __future__ import annotations

import cramjam

from converter.tfbundle.proto import encode_varint, read_varint
from converter.tfbundle.table import (
    FOOTER_SIZE,
    HANDLES_SIZE,
    MAGIC,
    RESTART_INTERVAL,
    SNAPPY_COMPRESSION,
    _BlockBuilder,
    masked_crc32c,
    read_table,
)


def snappy_table(items: list[tuple[bytes, bytes]], block_size: int = 1024) -> bytes:
    """``items`` as a table whose every block (data, metaindex, index) is snappy-compressed."""
    out = bytearray()

    def emit(contents: bytes) -> bytes:
        stored = bytes(cramjam.snappy.compress_raw(contents)) + bytes([SNAPPY_COMPRESSION])
        handle = encode_varint(len(out)) + encode_varint(len(stored) - 1)
        out.extend(stored + masked_crc32c(stored).to_bytes(4, "little"))
        return handle

    index, block = _BlockBuilder(1), _BlockBuilder(RESTART_INTERVAL)
    for key, value in items:
        block.add(key, value)
        if block.size() >= block_size:
            index.add(block.last, emit(block.finish()))
            block = _BlockBuilder(RESTART_INTERVAL)
    if block.count:
        index.add(block.last, emit(block.finish()))
    handles = emit(_BlockBuilder(RESTART_INTERVAL).finish())
    handles += emit(index.finish())
    out.extend(handles.ljust(HANDLES_SIZE, b"\0") + MAGIC.to_bytes(8, "little"))
    return bytes(out)


def recompress(path, block_size: int = 1024) -> int:
    """Rewrite the table at ``path`` with snappy blocks; returns its number of entries."""
    entries = [(key, value) for key, value, _ in read_table(path)]
    path.write_bytes(snappy_table(entries, block_size))
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
