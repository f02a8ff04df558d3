"""sha256 off the main thread: hashlib releases the GIL on large buffers, so hashing the source and
the output overlaps with reading and writing instead of adding to them (no SHA extensions here:
sha256 runs at ~250 MB/s, as long as the whole conversion otherwise takes)."""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterable
from pathlib import Path


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


def sha256_files(paths: Iterable[Path]) -> Callable[[], str]:
    """Start hashing the files in order (a checkpoint's index then its shards); call the result to get it."""
    paths = list(paths)

    def digest() -> str:
        h = hashlib.sha256()
        for path in paths:
            with path.open("rb") as f:
                while chunk := f.read(1 << 22):
                    h.update(chunk)
        return h.hexdigest()

    return _run(digest)


class StreamingSha256:
    """Hash chunks on a thread as they are written; ``hexdigest`` waits for the last one."""

    def __init__(self) -> None:
        self._queue: queue.Queue[memoryview | None] = queue.Queue(maxsize=2)
        self._join = _run(self._consume)

    def _consume(self) -> str:
        h = hashlib.sha256()
        while (chunk := self._queue.get()) is not None:
            h.update(chunk)
        return h.hexdigest()

    def update(self, chunk: bytes | memoryview) -> None:
        self._queue.put(memoryview(chunk))

    def hexdigest(self) -> str:
        self._queue.put(None)
        return self._join()
