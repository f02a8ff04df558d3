"""sha256 off the main thread, and a source's digest remembered.

hashlib releases the GIL on large buffers, so hashing overlaps with parsing and writing; still, with
no SHA extensions here sha256 runs at ~250 MB/s, as much CPU as the rest of a conversion. So a
source's digest is kept in a small cache (``$I3D_CONVERTER_CACHE``, default
``~/.cache/i3d-converter``; ``off`` disables it) under each file's path, device, inode, size, mtime
and ctime, as git's index does: any write to a file moves its ctime, so a changed file is hashed
again. A digest is only remembered when its files had been still for ``SETTLED_NS`` before they were
hashed, so a write in the same timestamp tick cannot go unseen.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from converter.errors import ConversionError

CACHE_ENV = "I3D_CONVERTER_CACHE"
SETTLED_NS = 100_000_000
MAX_ENTRIES = 256


def _run(target: Callable[[], str]) -> Callable[[], str]:
    result: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            result.append(target())
        except BaseException as err:  # re-raised in the caller's thread by join()
            errors.append(err)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()

    def join() -> str:
        thread.join()
        if errors:
            raise errors[0]
        return result[0]

    return join


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        try:
            with path.open("rb") as f:
                while chunk := f.read(1 << 22):
                    h.update(chunk)
        except OSError as err:
            raise ConversionError(path, f"cannot read: {err.strerror}") from None
    return h.hexdigest()


def sha256_files(paths: Iterable[Path]) -> Callable[[], str]:
    """Start hashing the files in order (a checkpoint's index then its shards); call the result to get it."""
    paths = list(paths)
    return _run(lambda: _digest(paths))


def cache_file() -> Path | None:
    """Where source digests are remembered, or None when ``$I3D_CONVERTER_CACHE`` is ``off``."""
    root = os.environ.get(CACHE_ENV)
    if root == "off":
        return None
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "i3d-converter"
    return Path(root) / "sha256.json"


@dataclass(frozen=True)
class Digest:
    """A source's sha256 being computed (or remembered) for ``paths``; call it to wait for the hex digest."""

    paths: tuple[Path, ...]
    result: Callable[[], str]

    def __call__(self) -> str:
        return self.result()


def source_sha256(paths: Iterable[Path]) -> Digest:
    """``sha256_files`` for a source, answered from the cache when none of its files changed."""
    absolute = tuple(Path(p).absolute() for p in paths)
    key = "\n".join(map(str, absolute))
    files = [_identity(path) for path in absolute]
    cache = cache_file()
    entry = _load(cache).get(key) if cache else None
    if isinstance(entry, dict) and entry.get("files") == files and isinstance(entry.get("sha256"), str):
        return Digest(absolute, lambda: entry["sha256"])

    def digest() -> str:
        started = time.time_ns()
        value = _digest(list(absolute))
        settled = all(started - max(mtime, ctime) > SETTLED_NS for *_, mtime, ctime in files)
        if cache and settled and [_identity(path) for path in absolute] == files:
            _store(cache, key, {"files": files, "sha256": value})
        return value

    return Digest(absolute, _run(digest))


def _identity(path: Path) -> list[int]:
    try:
        st = path.stat()
    except OSError as err:
        raise ConversionError(path, f"cannot read: {err.strerror}") from None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _load(cache: Path) -> dict:
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):  # none yet, or unreadable: the cache only saves time
        return {}
    return data if isinstance(data, dict) else {}


def _store(cache: Path, key: str, entry: dict) -> None:
    entries = _load(cache)
    entries.pop(key, None)
    entries[key] = entry  # newest last; the oldest are dropped beyond MAX_ENTRIES
    kept = dict(list(entries.items())[-MAX_ENTRIES:])
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(kept))
        os.replace(tmp, cache)
    except OSError:  # a read-only home: convert as before, only without the shortcut
        with contextlib.suppress(OSError):
            tmp.unlink()
