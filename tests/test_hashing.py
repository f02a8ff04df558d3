"""A source's sha256: computed on a thread, remembered by file identity, never stale."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from converter.errors import ConversionError
from converter.hashing import CACHE_ENV, SETTLED_NS, cache_file, sha256_files, source_sha256


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "sha256.json"


@pytest.fixture
def files(tmp_path):
    """An index and a shard, settled (unchanged for longer than the cache's racy window)."""
    paths = [tmp_path / "model.ckpt.index", tmp_path / "model.ckpt.data-00000-of-00001"]
    paths[0].write_bytes(b"index" * 1000)
    paths[1].write_bytes(os.urandom(3 << 20))
    time.sleep(SETTLED_NS / 1e9 * 1.5)
    return paths


def expected(paths) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in paths)).hexdigest()


def test_digest_of_the_files_in_order(files, cache):
    assert sha256_files(files)() == source_sha256(files)() == expected(files)
    assert source_sha256(files[::-1])() == expected(files[::-1]) != expected(files)


def test_second_call_is_answered_from_the_cache(files, cache):
    source_sha256(files)()
    entries = json.loads(cache.read_text())
    (entry,) = entries.values()
    entry["sha256"] = "c" * 64  # what only the cache can answer
    cache.write_text(json.dumps(entries))
    assert source_sha256(files)() == "c" * 64


def test_a_changed_file_is_hashed_again_even_with_its_old_mtime_and_size(files, cache):
    source_sha256(files)()
    before = files[1].stat()
    data = bytearray(files[1].read_bytes())
    data[12345] ^= 1
    files[1].write_bytes(data)
    os.utime(files[1], ns=(before.st_atime_ns, before.st_mtime_ns))  # only the ctime tells
    assert files[1].stat().st_size == before.st_size
    assert source_sha256(files)() == expected(files)


def test_a_file_written_just_now_is_not_remembered(tmp_path, cache):
    fresh = tmp_path / "fresh.ckpt"
    fresh.write_bytes(b"x" * 100)
    assert source_sha256([fresh])() == expected([fresh])
    assert not cache.exists()


def test_off_and_unusable_caches_only_cost_time(files, cache, monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, "off")
    assert cache_file() is None
    assert source_sha256(files)() == expected(files)
    assert not cache.exists()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocker))  # the cache's folder cannot be made
    assert source_sha256(files)() == expected(files)
    monkeypatch.setenv(CACHE_ENV, str(cache.parent))
    cache.parent.mkdir()
    for junk in ("{not json", "[1, 2]", json.dumps({"\n".join(str(f.absolute()) for f in files): "not an entry"})):
        cache.write_text(junk)
        assert source_sha256(files)() == expected(files)
        assert len(json.loads(cache.read_text())) == 1  # replaced by a good one


def test_missing_file_names_it(tmp_path, cache):
    with pytest.raises(ConversionError, match="gone.ckpt.*cannot read"):
        source_sha256([tmp_path / "gone.ckpt"])
    with pytest.raises(ConversionError, match="gone.ckpt.*cannot read"):
        sha256_files([tmp_path / "gone.ckpt"])()  # the error reaches the caller's thread
