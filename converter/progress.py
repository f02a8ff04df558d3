"""Progress of long steps, in one place: a tqdm bar on a terminal; elsewhere (a log file, a pipe, CI) a plain
line every ``every`` seconds, and nothing at all for a step shorter than that, so logs hold no bar redraws.

tqdm's own ``disable=None`` turns a bar off where stderr is not a terminal; here that case gets the periodic
line instead, so a long job in a log still shows it is moving.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

EVERY = 30.0  # seconds between plain lines


def progress(
    total: int | None,
    *,
    unit: str,
    desc: str,
    enabled: bool = True,
    every: float | None = None,
    file: TextIO | None = None,
) -> Any:
    """A counter with ``update(n)``, ``close()`` and ``with`` support; ``total`` None when unknown; plain lines
    every ``every`` seconds (default ``EVERY``) where ``file`` (default stderr) is not a terminal."""
    stream = file if file is not None else sys.stderr
    every = EVERY if every is None else every
    if not enabled:
        return _Lines(total, unit, desc, stream, every=None)
    if _is_terminal(stream):
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm comes with the video extra
            return _Lines(total, unit, desc, stream, every)
        return tqdm(total=total, unit=unit, desc=desc, dynamic_ncols=True, file=stream)
    return _Lines(total, unit, desc, stream, every)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


class _Lines:
    """``desc: 12/40 clips, 31 s`` at most every ``every`` seconds (None: silent), and a last line when any was."""

    def __init__(self, total: int | None, unit: str, desc: str, file: TextIO, every: float | None) -> None:
        self.total, self.unit, self.desc, self.file, self.every = total, unit, desc, file, every
        self.done, self.start = 0, time.monotonic()
        self.last: float | None = None
        self.shown, self.postfix = 0, ""

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.every is None:
            return
        now = time.monotonic()
        if now - (self.start if self.last is None else self.last) >= self.every:
            self._line(now)

    def set_description(self, desc: str) -> None:
        """What is being worked on (tqdm's name): the next line names it."""
        self.desc = desc

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        """A detail after the count (tqdm's name), on the next line."""
        self.postfix = text

    def _line(self, now: float) -> None:
        self.last, self.shown = now, self.done
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        detail = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {count} {self.unit}s{detail}, {now - self.start:.0f} s", file=self.file, flush=True)

    def close(self) -> None:
        if self.every is not None and self.last is not None and self.shown != self.done:
            self._line(time.monotonic())
        self.every = None

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
