"""Windows of consecutive frames, fed one frame at a time (frames arrive in chunks from decoding workers).

``clips``: windows of ``length`` frames every ``stride`` frames; frames left uncovered at the end
make one last window loop-padded to ``pad_to`` frames (dropped when ``pad_to`` is None), as
``clips.iter_windows``. ``centered``: one window per ``stride``-th frame, the ``length`` frames
around it (``length // 2`` before), with the first and last frames repeated past the video's ends
(edge padding, as MS-TCN's per-frame features), so ``stride`` 1 gives one row per frame. Only the
last ``length`` frames are held.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

from converter.errors import ConversionError
from converter.video.clips import Window
from converter.video.transforms import loop_pad

_T = TypeVar("_T")
KINDS = ("clips", "centered")


class Windows(Generic[_T]):
    """``push`` frames, get the windows they complete; ``finish`` gives the rest (module doc)."""

    def __init__(self, length: int, stride: int, pad_to: int | None, kind: str = "clips") -> None:
        if length < 1 or stride < 1:
            raise ConversionError(None, f"window length and stride must be at least 1, got {length} and {stride}")
        if kind not in KINDS:
            raise ConversionError(None, f"window must be one of {', '.join(KINDS)}, got {kind!r}")
        self.length, self.stride, self.pad_to, self.kind = length, stride, pad_to, kind
        self.held: deque[_T] = deque(maxlen=length + 1)
        self.count = self.start = self.covered = 0
        self.first: _T | None = None
        self.before = length // 2  # centered: frames before the centre

    def _at(self, index: int) -> _T:
        """Frame ``index`` (clamped to the video), which must still be held (or be the first)."""
        index = max(index, 0)
        if index == 0 and self.first is not None:
            return self.first
        return self.held[min(index, self.count - 1) - (self.count - len(self.held))]

    def push(self, item: _T) -> list[Window[_T]]:
        self.held.append(item)
        self.first = item if self.count == 0 else self.first
        self.count += 1
        if self.kind == "clips":
            if self.count == self.start + self.length:
                window = Window(self.start, self.length, list(self.held)[-self.length :])
                self.covered, self.start = self.count, self.start + self.stride
                return [window]
            return []
        out = []
        while self.start + self.length - self.before <= self.count:  # the window's last frame has come
            out.append(self._centered(self.start))
            self.start += self.stride
        return out

    def finish(self) -> list[Window[_T]]:
        if self.kind == "centered":
            out = []
            while self.start < self.count:
                out.append(self._centered(self.start))
                self.start += self.stride
            return out
        if self.pad_to is not None and self.covered < self.count and self.start < self.count:
            tail = list(self.held)[self.start - (self.count - len(self.held)) :]
            return [Window(self.start, len(tail), list(loop_pad(tail, self.pad_to)))]
        return []

    def _centered(self, centre: int) -> Window[_T]:
        first = centre - self.before
        return Window(centre, 1, [self._at(i) for i in range(first, first + self.length)])


def edge_padded(centre: int, length: int, frames: int) -> bool:
    """Whether the centred window of ``centre`` reaches past the ends of a video of ``frames`` frames."""
    first = centre - length // 2
    return first < 0 or first + length > frames
