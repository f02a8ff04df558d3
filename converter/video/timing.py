"""Which decoded frames a video gives at a frame rate, and when each is shown, from presentation times.

Containers store presentation times (PTS) as integers of their time base: Matroska and WebM in
milliseconds, so a 30 fps frame 2 is stamped 67 ms although it is shown at 66.67 ms. A stamp
within half a time base (the most the muxer's rounding moved it) of the stream's frame grid
(``n / rate``) is taken to be that grid time; any other stamp (variable-rate videos) is taken to
show its frame from half a time base before it. When the frame period is a whole number of
ticks (AVI's 1/fps time base, MP4's 1/30000 at 30000/1001 fps), stamps are exact and no
tolerance is applied. A frame is on screen from that start until the next frame's. Then:

- ``fps`` None (``--fps native``/``0``): every decoded frame, once, at its own time;
- ``fps`` equal to the stream's own rate (within 1e-4, so 29.97 means 30000/1001 and an hour-long
  video does not drift): the stream's exact rate, and every frame once;
- any other ``fps``: output frame ``k`` is the frame on screen at ``k / fps`` s (dropping frames
  to go down, repeating them to go up; variable-rate videos come out evenly spaced).

Each output frame carries its time span in seconds from the first frame: its own PTS span at the
native rate, ``[k / fps, (k + 1) / fps)`` when resampled; clip timestamps come from these.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar

_T = TypeVar("_T")
SAME_RATE = Fraction(1, 10_000)  # a requested fps this close (relative) to the stream's rate means that rate


@dataclass
class Clock:
    """What the decoder learnt about the stream's timing: its time base and nominal rate (None: unknown)."""

    time_base: Fraction | None = None
    rate: Fraction | None = None

    @property
    def tolerance(self) -> Fraction:
        """How far a stamp may be from the frame's real time: half a tick, 0 when periods are whole ticks."""
        if not self.time_base or (self.rate and (1 / (self.rate * self.time_base)).denominator == 1):
            return Fraction(0)
        return self.time_base / 2

    def shown_from(self, stamp: Fraction) -> Fraction:
        """When a frame stamped ``stamp`` s is on screen: its grid time, else half a tick earlier."""
        if self.rate:
            grid = round(stamp * self.rate) / self.rate
            if abs(grid - stamp) <= self.tolerance:
                return grid
        return stamp - self.tolerance

    def resolve(self, fps: Fraction | None) -> Fraction | None:
        """The rate to sample at: the stream's exact rate when ``fps`` is that rate rounded, else ``fps``."""
        if fps is not None and self.rate and abs(fps / self.rate - 1) <= SAME_RATE:
            return self.rate
        return fps


@dataclass(frozen=True)
class Timed(Generic[_T]):
    """An output frame's ``item`` shown from ``start`` to ``end`` seconds (from the first frame)."""

    start: Fraction
    end: Fraction
    item: _T


def select(
    frames: Iterator[tuple[Fraction, Fraction | None, _T]], fps: Fraction | None, clock: Clock
) -> Iterator[Timed[_T]]:
    """Output frames of decoded ``(start, duration or None, item)`` at ``fps`` (None: native; module doc).

    ``clock`` is read after the first frame is decoded (the decoder fills it when it opens the stream).
    """
    held: tuple[Fraction, Fraction | None, _T] | None = None
    k, rate = 0, None
    for stamp, duration, item in frames:
        start = clock.shown_from(stamp)
        if held is None:
            rate = clock.resolve(fps)
        elif rate is None:
            yield Timed(held[0], start, held[2])
        else:
            while k / rate < start:
                yield Timed(k / rate, (k + 1) / rate, held[2])
                k += 1
        held = start, duration, item
    if held is None:
        return
    start, duration, item = held
    end = start + (duration or (1 / clock.rate if clock.rate else (1 / rate if rate else Fraction(0))))
    if rate is None:
        yield Timed(start, end, item)
        return
    while k / rate < end:
        yield Timed(k / rate, (k + 1) / rate, item)
        k += 1
