"""The sorted string table a checkpoint's ``.index`` file is: TensorFlow's LevelDB-style SSTable.

Layout (TF ``core/lib/io``: ``format.cc``, ``block.cc``, ``table_builder.cc``): data blocks of
prefix-compressed entries, an empty metaindex block, an index block mapping each data block's
last key to its BlockHandle, then a 48-byte footer (two varint BlockHandles padded to 40 bytes
and the magic number). Every block carries a 5-byte trailer: compression type (0 none, 1 snappy:
TF1-era writers, e.g. the TF-Hub I3D module, compressed their blocks; TF 2 writes 0) and a masked
CRC32C of the stored block plus that byte. Reading checks all of it, within the
file's size, so a damaged or foreign file gets a ConversionError instead of a crash or a hang.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

import google_crc32c

from converter.errors import ConversionError
from converter.tfbundle.proto import WireError, encode_varint, read_varint

MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
HANDLES_SIZE = 40
TRAILER_SIZE = 5
NO_COMPRESSION = 0
SNAPPY_COMPRESSION = 1
SNAPPY_MAX_EXPANSION = 24  # a 3-byte snappy copy yields at most 64 bytes: no honest block grows more
BLOCK_SIZE = 262144  # TF's table::Options default
RESTART_INTERVAL = 16
_CRC_CHUNK = 1 << 22


def masked_crc32c(data: bytes | memoryview) -> int:
    """CRC32C of ``data``, masked as TF stores it in checkpoints and tables."""
    if isinstance(data, bytes):
        crc = google_crc32c.value(data)
    else:  # the C extension takes bytes only: feed it bounded chunks, never a whole copy
        view = memoryview(data).cast("B")
        crc = 0
        for start in range(0, len(view), _CRC_CHUNK):
            crc = google_crc32c.extend(crc, bytes(view[start : start + _CRC_CHUNK]))
    return mask_crc(crc)


def mask_crc(crc: int) -> int:
    """TF's crc32c::Mask: rotate right by 15 and add 0xa282ead8, so CRCs of CRCs stay strong."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _handle(path: Path, buf: bytes, pos: int, end: int, where: str) -> tuple[int, int, int]:
    """Decode a BlockHandle (varint64 offset, varint64 size); returns (offset, size, next pos)."""
    try:
        offset, pos = read_varint(buf, pos, end)
        size, pos = read_varint(buf, pos, end)
    except WireError as err:
        raise ConversionError(path, f"bad block handle in {where}: {err}") from None
    return offset, size, pos


def _read_block(path: Path, file: BinaryIO, offset: int, size: int, limit: int) -> bytes:
    """One block's contents after checking its bounds, trailer CRC and compression type."""
    if offset + size + TRAILER_SIZE > limit:
        raise ConversionError(
            path, f"block at offset {offset} ({size} bytes) runs past the end of the table data ({limit})"
        )
    file.seek(offset)
    raw = file.read(size + TRAILER_SIZE)
    if len(raw) != size + TRAILER_SIZE:
        raise ConversionError(path, f"file ended inside the block at offset {offset}")
    stored = int.from_bytes(raw[size + 1 :], "little")
    computed = masked_crc32c(raw[: size + 1])
    if stored != computed:
        raise ConversionError(
            path,
            f"block at offset {offset}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})",
        )
    if raw[size] == SNAPPY_COMPRESSION:
        return _unsnappy(path, raw[:size], offset)
    if raw[size] != NO_COMPRESSION:
        raise ConversionError(
            path, f"block at offset {offset} has unknown compression type {raw[size]} (0 none and 1 snappy are read)"
        )
    return raw[:size]


def _unsnappy(path: Path, block: bytes, offset: int) -> bytes:
    """A snappy-compressed block's contents, its stated length bounded before anything is allocated."""
    import cramjam  # only TF1-era files need it

    try:
        length, _ = read_varint(block, 0, len(block))
    except WireError as err:
        raise ConversionError(path, f"snappy block at offset {offset}: bad length header: {err}") from None
    if length > SNAPPY_MAX_EXPANSION * len(block) + 64:
        raise ConversionError(
            path, f"snappy block at offset {offset} claims {length} bytes from {len(block)}: not a snappy block"
        )
    try:
        out = bytes(cramjam.snappy.decompress_raw(block))
    except cramjam.DecompressionError as err:
        raise ConversionError(path, f"snappy block at offset {offset} does not decompress: {err}") from None
    if len(out) != length:
        raise ConversionError(path, f"snappy block at offset {offset} gave {len(out)} bytes, not {length}")
    return out


def _block_entries(path: Path, block: bytes, base: int) -> list[tuple[bytes, bytes, int]]:
    """(key, value, file offset) of each entry in a block, undoing the key prefix compression."""
    if len(block) < 4:
        raise ConversionError(path, f"block at offset {base} is {len(block)} bytes, too short for a restart count")
    num_restarts = int.from_bytes(block[-4:], "little")
    if num_restarts == 0 or num_restarts > (len(block) - 4) // 4:
        raise ConversionError(path, f"block at offset {base} claims {num_restarts} restart points")
    limit = len(block) - 4 * (num_restarts + 1)
    restarts = struct.unpack_from(f"<{num_restarts}I", block, limit)
    entries: list[tuple[bytes, bytes, int]] = []
    boundaries = set()
    key, pos = b"", 0
    while pos < limit:
        start = pos
        try:
            shared, pos = read_varint(block, pos, limit)
            unshared, pos = read_varint(block, pos, limit)
            length, pos = read_varint(block, pos, limit)
        except WireError as err:
            raise ConversionError(path, f"corrupt entry at offset {base + start}: {err}") from None
        if shared > len(key):
            raise ConversionError(
                path, f"corrupt entry at offset {base + start}: shares {shared} bytes of a {len(key)}-byte key"
            )
        if unshared + length > limit - pos:
            raise ConversionError(path, f"corrupt entry at offset {base + start}: lengths run past the block")
        if shared == 0:
            boundaries.add(start)
        key = key[:shared] + block[pos : pos + unshared]
        entries.append((key, block[pos + unshared : pos + unshared + length], base + start))
        pos += unshared + length
    bad = [r for r in restarts if r not in boundaries and not (r == 0 and limit == 0)]
    if bad:
        raise ConversionError(path, f"block at offset {base}: restart point {bad[0]} is not an entry start")
    return entries


def read_blocks(path: Path) -> list[list[tuple[bytes, bytes, int]]]:
    """The (key, value, file offset) entries of the table at ``path``, in key order, per data block."""
    try:
        with open(path, "rb") as file:
            file_size = os.fstat(file.fileno()).st_size
            if file_size < FOOTER_SIZE:
                raise ConversionError(path, f"{file_size} bytes is too short for a table footer ({FOOTER_SIZE})")
            footer_at = file_size - FOOTER_SIZE
            file.seek(footer_at)
            footer = file.read(FOOTER_SIZE)
            if len(footer) != FOOTER_SIZE:
                raise ConversionError(path, f"file ended inside the footer at offset {footer_at}")
            magic = int.from_bytes(footer[HANDLES_SIZE:], "little")
            if magic != MAGIC:
                raise ConversionError(
                    path,
                    f"not a TensorFlow checkpoint index: bad table magic {magic:#018x} at offset "
                    f"{footer_at + HANDLES_SIZE}",
                )
            _, _, pos = _handle(path, footer, 0, HANDLES_SIZE, f"footer at offset {footer_at}")
            index_at, index_size, _ = _handle(path, footer, pos, HANDLES_SIZE, f"footer at offset {footer_at}")
            index = _read_block(path, file, index_at, index_size, footer_at)
            blocks: list[list[tuple[bytes, bytes, int]]] = []
            last_key, block_end = None, 0
            for _, value, where in _block_entries(path, index, index_at):
                offset, size, _ = _handle(path, value, 0, len(value), f"index entry at offset {where}")
                if offset < block_end:
                    raise ConversionError(path, f"index entry at offset {where}: data block {offset} overlaps")
                block_end = offset + size + TRAILER_SIZE
                blocks.append(_block_entries(path, _read_block(path, file, offset, size, index_at), offset))
                for key, _, at in blocks[-1]:
                    if last_key is not None and key <= last_key:
                        raise ConversionError(path, f"key at offset {at} is out of order")
                    last_key = key
            return blocks
    except OSError as err:
        raise ConversionError(path, f"cannot read: {err.strerror or err}") from None


def read_table(path: Path) -> list[tuple[bytes, bytes, int]]:
    """All (key, value, file offset) entries of the table at ``path``, in key order."""
    return [entry for block in read_blocks(path) for entry in block]


class _BlockBuilder:
    """Accumulates sorted entries with prefix compression and a restart point every N keys."""

    def __init__(self, restart_interval: int) -> None:
        self.interval = restart_interval
        self.buf = bytearray()
        self.restarts = [0]
        self.count = 0
        self.last = b""

    def add(self, key: bytes, value: bytes) -> None:
        shared = 0
        if self.count < self.interval:
            while shared < min(len(key), len(self.last)) and key[shared] == self.last[shared]:
                shared += 1
        else:
            self.restarts.append(len(self.buf))
            self.count = 0
        self.buf += encode_varint(shared) + encode_varint(len(key) - shared) + encode_varint(len(value))
        self.buf += key[shared:] + value
        self.last = key
        self.count += 1

    def size(self) -> int:
        return len(self.buf) + 4 * len(self.restarts) + 4

    def finish(self) -> bytes:
        return bytes(self.buf) + struct.pack(f"<{len(self.restarts) + 1}I", *self.restarts, len(self.restarts))


def build_table(
    items: list[tuple[bytes, bytes]], block_size: int = BLOCK_SIZE, compression: int = NO_COMPRESSION
) -> bytes:
    """Serialize strictly increasing (key, value) pairs as a table, uncompressed as TF 2 writes one
    (``compression=SNAPPY_COMPRESSION`` compresses every block as TF1-era writers did; tests use it)."""
    out = bytearray()

    def emit(contents: bytes) -> bytes:
        if compression == SNAPPY_COMPRESSION:
            import cramjam

            contents = bytes(cramjam.snappy.compress_raw(contents))
        elif compression != NO_COMPRESSION:
            raise ValueError(f"compression type {compression} is not 0 (none) or 1 (snappy)")
        handle = encode_varint(len(out)) + encode_varint(len(contents))
        trailer = bytes([compression])
        out.extend(contents + trailer + masked_crc32c(contents + trailer).to_bytes(4, "little"))
        return handle

    index = _BlockBuilder(1)
    block = _BlockBuilder(RESTART_INTERVAL)
    for key, value in items:
        block.add(key, value)
        if block.size() >= block_size:
            index.add(block.last, emit(block.finish()))
            block = _BlockBuilder(RESTART_INTERVAL)
    if block.count:
        index.add(block.last, emit(block.finish()))
    metaindex = emit(_BlockBuilder(RESTART_INTERVAL).finish())
    handles = metaindex + emit(index.finish())
    out.extend(handles.ljust(HANDLES_SIZE, b"\0") + MAGIC.to_bytes(8, "little"))
    return bytes(out)
