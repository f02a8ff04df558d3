"""Every kind of broken checkpoint gets a ConversionError that names the file, never a raw exception."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converter.errors import ConversionError
from converter.tfbundle import BundleReader, masked_crc32c, read_index, write_bundle
from converter.tfbundle.proto import encode_entry, encode_header, encode_varint, read_varint
from converter.tfbundle.table import FOOTER_SIZE, build_table, read_table

GOOD = {
    "conv/kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
    "conv/bias": np.array([1.5, -2.0], dtype=np.float64),
    "step": np.array(7, dtype=np.int64),
}


def good_checkpoint(tmp_path: Path) -> Path:
    prefix = tmp_path / "model.ckpt"
    write_bundle(prefix, GOOD)
    return prefix


def custom_index(prefix: Path, entries: dict[bytes, bytes], header: bytes | None = None) -> Path:
    """An index whose table is valid but whose contents are whatever the test needs."""
    items = [(b"", encode_header(1) if header is None else header), *sorted(entries.items())]
    path = prefix.with_name(prefix.name + ".index")
    path.write_bytes(build_table(items))
    return path


def expect_error(path: Path, match: str, read=read_index, target: Path | None = None) -> ConversionError:
    """``read(target or path)`` raises a ConversionError naming ``path`` and matching ``match``."""
    with pytest.raises(ConversionError, match=match) as err:
        read(target or path)
    assert str(path) in str(err.value)
    assert err.value.path == str(path)
    return err.value


def read_all(prefix: Path) -> None:
    with BundleReader(prefix) as reader:
        for name in reader.entries:
            reader.read(name)


def first_data_block(index: Path) -> tuple[int, int]:
    """(offset, size) of the first data block, from the footer's index handle."""
    data = index.read_bytes()
    footer = data[-FOOTER_SIZE:]
    _, pos = read_varint(footer, 0, 40)
    _, pos = read_varint(footer, pos, 40)
    index_at, _ = read_varint(footer, pos, 40)
    _, pos = read_varint(data, index_at, len(data))  # shared
    unshared, pos = read_varint(data, pos, len(data))
    _, pos = read_varint(data, pos, len(data))  # value length
    offset, pos = read_varint(data, pos + unshared, len(data))
    size, _ = read_varint(data, pos, len(data))
    return offset, size


def test_missing_index(tmp_path):
    expect_error(tmp_path / "nothing.index", "index file not found", target=tmp_path / "nothing")


@pytest.mark.parametrize("keep", [0, 20, FOOTER_SIZE - 1, "half", "all but one"])
def test_truncated_index(tmp_path, keep):
    index = Path(f"{good_checkpoint(tmp_path)}.index")
    data = index.read_bytes()
    keep = {"half": len(data) // 2, "all but one": len(data) - 1}.get(keep, keep)
    index.write_bytes(data[:keep])
    expect_error(index, "too short|magic")


def test_wrong_magic(tmp_path):
    index = Path(f"{good_checkpoint(tmp_path)}.index")
    data = bytearray(index.read_bytes())
    data[-1] ^= 0x01
    index.write_bytes(bytes(data))
    expect_error(index, rf"bad table magic .* at offset {len(data) - 8}")


def test_corrupt_block(tmp_path):
    index = Path(f"{good_checkpoint(tmp_path)}.index")
    offset, size = first_data_block(index)
    data = bytearray(index.read_bytes())
    data[offset + size // 2] ^= 0x40
    index.write_bytes(bytes(data))
    expect_error(index, rf"block at offset {offset}: checksum mismatch")


@pytest.mark.parametrize(
    ("kind", "message"),
    [(1, r"snappy block at offset {offset} (does not decompress|claims|gave)"), (2, "unknown compression type 2")],
)
def test_compressed_block(tmp_path, kind, message):
    """A block marked snappy that is not, or compressed some other way, with a trailer CRC correct for it."""
    index = Path(f"{good_checkpoint(tmp_path)}.index")
    offset, size = first_data_block(index)
    data = bytearray(index.read_bytes())
    data[offset + size] = kind
    data[offset + size + 1 : offset + size + 5] = struct.pack(
        "<I", masked_crc32c(bytes(data[offset : offset + size + 1]))
    )
    index.write_bytes(bytes(data))
    expect_error(index, message.format(offset=offset))


def test_flipped_byte_in_tensor_data(tmp_path):
    prefix = good_checkpoint(tmp_path)
    entry = read_index(prefix)["conv/kernel"]
    shard = tmp_path / "model.ckpt.data-00000-of-00001"
    data = bytearray(shard.read_bytes())
    data[entry.offset + 5] ^= 0x01
    shard.write_bytes(bytes(data))
    with BundleReader(prefix) as reader:
        np.testing.assert_array_equal(reader.read("conv/bias"), GOOD["conv/bias"])
        error = expect_error(
            shard, rf"'conv/kernel': CRC32C mismatch in bytes {entry.offset}\.\.", reader.read, "conv/kernel"
        )
        assert f"stored {entry.crc32c:#010x}" in str(error)
        expect_error(shard, "CRC32C mismatch", reader.read_bytes, "conv/kernel")
    with BundleReader(prefix, verify_crc=False) as unchecked:
        changed = unchecked.read("conv/kernel")
    assert changed.shape == GOOD["conv/kernel"].shape
    assert (changed != GOOD["conv/kernel"]).sum() == 1


def test_missing_shard_file(tmp_path):
    prefix = good_checkpoint(tmp_path)
    shard = tmp_path / "model.ckpt.data-00000-of-00001"
    shard.unlink()
    expect_error(shard, "data file missing", BundleReader, prefix)


def test_shard_file_too_short(tmp_path):
    prefix = good_checkpoint(tmp_path)
    shard = tmp_path / "model.ckpt.data-00000-of-00001"
    size = shard.stat().st_size
    shard.write_bytes(shard.read_bytes()[:-3])
    expect_error(shard, rf"data file is {size - 3} bytes but tensor '.*' ends at offset {size}", BundleReader, prefix)


def test_shard_file_shrinks_after_opening(tmp_path):
    prefix = good_checkpoint(tmp_path)
    shard = tmp_path / "model.ckpt.data-00000-of-00001"
    with BundleReader(prefix) as reader:
        shard.write_bytes(b"")
        expect_error(shard, "file ended at offset", reader.read, "conv/kernel")


def test_unknown_dtype(tmp_path):
    prefix = tmp_path / "odd"
    custom_index(prefix, {b"weird": encode_entry(99, (2,), 0, 8, 0)})
    (tmp_path / "odd.data-00000-of-00001").write_bytes(bytes(8))
    entry = read_index(prefix)["weird"]
    assert (entry.dtype, entry.tf_dtype) == (None, 99)
    with BundleReader(prefix) as reader:
        expect_error(prefix, r"'weird': unknown dtype 99 .*not supported", reader.read, "weird")
        expect_error(prefix, "unknown dtype 99", reader.read_bytes, "weird")


@pytest.mark.parametrize("kind", ["png", "pickle", "empty", "directory"])
def test_not_a_checkpoint(tmp_path, kind):
    index = tmp_path / "model.ckpt.index"
    if kind == "png":
        from PIL import Image

        Image.new("RGB", (32, 32), (200, 10, 10)).save(index, format="PNG")
    elif kind == "pickle":
        index.write_bytes(pickle.dumps({"conv/kernel": GOOD["conv/kernel"]}))
    elif kind == "empty":
        index.write_bytes(b"")
    else:
        index.mkdir()
    expect_error(index, "magic|too short|not found", target=tmp_path / "model.ckpt")


def test_size_does_not_match_shape(tmp_path):
    index = custom_index(tmp_path / "bad", {b"x": encode_entry(1, (3, 2), 0, 20, 0)})
    expect_error(index, r"'x' \(index offset \d+\): size 20 bytes does not match shape \(3, 2\) x 4 bytes")


def test_absurd_shape_is_caught_without_allocating(tmp_path):
    index = custom_index(tmp_path / "bad", {b"x": encode_entry(1, (2**62, 2**62), 0, 16, 0)})
    expect_error(index, "does not match shape")


def test_entry_with_overlong_varint(tmp_path):
    index = custom_index(tmp_path / "bad", {b"x": b"\x08" + b"\xff" * 12})
    expect_error(index, r"'x' \(index offset \d+\): bad BundleEntryProto: varint at byte 1 is longer than 10")


def test_entry_with_varint_over_64_bits(tmp_path):
    index = custom_index(tmp_path / "bad", {b"x": b"\x28" + b"\xff" * 9 + b"\x7f"})
    expect_error(index, "overflows 64 bits")


def test_entry_with_absurd_length(tmp_path):
    index = custom_index(tmp_path / "bad", {b"x": b"\x12\xff\xff\xff\xff\x0f\x00"})
    expect_error(index, r"field 2 at byte 0 claims 4294967295 bytes, 1 left")


def test_footer_with_absurd_handle(tmp_path):
    index = Path(f"{good_checkpoint(tmp_path)}.index")
    data = bytearray(index.read_bytes())
    data[-FOOTER_SIZE : -FOOTER_SIZE + 40] = b"\xff" * 40
    index.write_bytes(bytes(data))
    expect_error(index, "bad block handle in footer")


def test_footer_handle_past_the_end(tmp_path):
    index = Path(f"{good_checkpoint(tmp_path)}.index")
    data = bytearray(index.read_bytes())
    handles = b"\x00\x08" + b"\x80\x80\x80\x80\x10\x08"  # metaindex, index at 2**32
    data[-FOOTER_SIZE : -FOOTER_SIZE + 40] = handles.ljust(40, b"\0")
    index.write_bytes(bytes(data))
    expect_error(index, r"block at offset 4294967296 \(8 bytes\) runs past the end")


def test_block_with_absurd_restart_count(tmp_path):
    index = tmp_path / "bad.index"
    contents = b"\xff\xff\xff\x7f"
    block = contents + b"\0" + struct.pack("<I", masked_crc32c(contents + b"\0"))
    footer = (b"\x00\x00" + b"\x00" + bytes([len(contents)])).ljust(40, b"\0")
    index.write_bytes(block + footer + struct.pack("<Q", 0xDB4775248B80FB57))
    expect_error(index, "block at offset 0 claims 2147483647 restart points")


def table_with_blocks(path: Path, *blocks: bytes) -> Path:
    """A table file holding exactly the given data block contents, with valid trailers and index."""

    def framed(contents: bytes) -> bytes:
        return contents + b"\0" + struct.pack("<I", masked_crc32c(contents + b"\0"))

    data, index_entries = b"", []
    for i, contents in enumerate(blocks):
        index_entries.append((0, bytes([0x41 + i]), encode_varint(len(data)) + encode_varint(len(contents))))
        data += framed(contents)
    index = entries_block(*index_entries)
    handle = encode_varint(len(data)) + encode_varint(len(index))
    footer = (handle + handle).ljust(40, b"\0")  # no metaindex: TF never reads it
    path.write_bytes(data + framed(index) + footer + struct.pack("<Q", 0xDB4775248B80FB57))
    return path


def entries_block(*entries: tuple[int, bytes, bytes], restarts: tuple[int, ...] = (0,)) -> bytes:
    """Block contents from (shared, unshared key bytes, value) triples and restart offsets."""
    body = b"".join(bytes([shared, len(key), len(value)]) + key + value for shared, key, value in entries)
    return body + struct.pack(f"<{len(restarts) + 1}I", *restarts, len(restarts))


def test_table_helper_builds_a_readable_table(tmp_path):
    path = table_with_blocks(tmp_path / "ok.index", entries_block((0, b"ab", b"1"), (1, b"c", b"2")))
    assert [(key, value) for key, value, _ in read_table(path)] == [(b"ab", b"1"), (b"ac", b"2")]


def test_entry_sharing_more_than_the_previous_key(tmp_path):
    block = entries_block((0, b"a", b""), (5, b"b", b""))
    path = table_with_blocks(tmp_path / "bad.index", block)
    expect_error(path, "corrupt entry at offset 4: shares 5 bytes of a 1-byte key")


def test_entry_running_past_its_block(tmp_path):
    block = entries_block((0, b"a", b""))[:-8] + bytes([0, 200, 0]) + struct.pack("<2I", 0, 1)
    expect_error(table_with_blocks(tmp_path / "bad.index", block), "corrupt entry at offset 4")


def test_restart_point_inside_an_entry(tmp_path):
    block = entries_block((0, b"ab", b"1"), (1, b"c", b"2"), restarts=(0, 2))
    expect_error(table_with_blocks(tmp_path / "bad.index", block), "restart point 2 is not an entry start")


def test_keys_out_of_order(tmp_path):
    path = table_with_blocks(tmp_path / "bad.index", entries_block((0, b"b", b"")), entries_block((0, b"a", b"")))
    expect_error(path, r"key at offset \d+ is out of order")


def test_no_header(tmp_path):
    index = tmp_path / "bad.index"
    index.write_bytes(build_table([(b"x", encode_entry(1, (), 0, 4, 0))]))
    expect_error(index, "no bundle header")


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (b"\x08\x00", "says 0 shards"),
        (b"\x08\x01\x10\x01", "big-endian"),
        (b"\x08\x01\x1a\x02\x10\x05", r"version >= 5"),
        (b"\x08\x01\x1f", "unsupported wire type 7"),
    ],
)
def test_bad_header(tmp_path, header, match):
    expect_error(custom_index(tmp_path / "bad", {}, header=header), match)


def test_shard_id_beyond_header(tmp_path):
    entry = encode_entry(1, (), 0, 4, 0) + b"\x18\x03"  # shard_id 3
    expect_error(custom_index(tmp_path / "bad", {b"x": entry}), "shard 3 but the header says 1 shards")


def test_name_not_utf8(tmp_path):
    expect_error(custom_index(tmp_path / "bad", {b"\xff\xfe": encode_entry(1, (), 0, 4, 0)}), "not UTF-8")


def test_unknown_rank(tmp_path):
    entry = b"\x08\x01\x12\x02\x18\x01"  # dtype float, shape {unknown_rank: true}
    expect_error(custom_index(tmp_path / "bad", {b"x": entry}), r"shape None is not fully defined")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=4),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_fuzzed_index_only_raises_conversion_error(tmp_path, edits, cut):
    prefix = tmp_path / "fuzz"
    write_bundle(prefix, GOOD)
    index = tmp_path / "fuzz.index"
    data = bytearray(index.read_bytes())
    for at, flip in edits:
        data[at % len(data)] ^= flip
    index.write_bytes(bytes(data[: None if cut is None else cut % len(data)]))
    try:
        read_all(prefix)
    except ConversionError as err:
        assert str(tmp_path) in str(err)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(st.tuples(st.integers(0, 10**3), st.integers(1, 255)), min_size=1, max_size=3),
    extra=st.binary(max_size=12),
)
def test_fuzzed_entries_with_valid_crcs_only_raise_conversion_error(tmp_path, edits, extra):
    prefix = tmp_path / "fuzz"
    write_bundle(prefix, GOOD)
    entries = {name.encode(): bytearray(encode_entry(1, (2, 3, 4), 0, 96, 0)) for name in GOOD}
    for name, value in entries.items():
        for at, flip in edits:
            value[at % len(value)] ^= flip
        entries[name] = bytes(value + extra)
    custom_index(prefix, entries)
    try:
        read_all(prefix)
    except ConversionError as err:
        assert str(tmp_path) in str(err)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), magic=st.booleans())
def test_random_bytes_only_raise_conversion_error(tmp_path, data, magic):
    index = tmp_path / "random.index"
    index.write_bytes(data + (struct.pack("<Q", 0xDB4775248B80FB57) if magic else b""))
    with pytest.raises(ConversionError) as err:
        read_index(index)
    assert str(index) in str(err.value)
