"""Frames from a video file (anything PyAV decodes, GIFs included) or a folder of images.

Frames are streamed one at a time, never the whole clip, and selected on their presentation
times (``timing``): output frame ``k`` (at ``k / fps`` seconds) is the source frame on screen at
that moment, within half the container's time base, so 30 fps becomes 25 fps by dropping, 12 fps
becomes 25 by repeating, variable-rate clips come out evenly spaced, and a video read at its own
rate (``fps`` None, or its rate as a rounded number such as 29.97) gives every frame exactly once
whatever its container (Matroska's millisecond stamps included).

Frames come out upright, as a player shows them: a video's display matrix (phone videos shot
upright) and an image's EXIF orientation are applied (``orientation``) unless ``autorotate`` is off.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from converter.errors import ConversionError
from converter.video.orientation import Turn, from_display_matrix, from_exif
from converter.video.pixels import IMAGE_SUFFIXES, frame_rgb, image_rgb
from converter.video.timing import Clock, Timed, select

_EXIF_ORIENTATION = 0x0112
DEFAULT_FPS = 25.0

# (start time in seconds, how long it stays on screen or None when unknown, RGB frame)
_Timed = tuple[Fraction, Fraction | None, np.ndarray]


@dataclass
class Orientation:
    """What decoding turned: the rotations/mirrors applied, e.g. ``{"rotated 90° counter-clockwise"}``."""

    applied: set[str] = field(default_factory=set)

    def note(self, turn: Turn, source: str) -> None:
        if turn:
            self.applied.add(f"{turn.describe()} ({source})")

    def describe(self) -> str:
        """'' when nothing was turned, else e.g. 'rotated 90° clockwise (display matrix)'."""
        return ", ".join(sorted(self.applied))


def iter_frames(
    path: str | os.PathLike[str],
    fps: float | None = DEFAULT_FPS,
    *,
    folder_fps: float = DEFAULT_FPS,
    autorotate: bool = True,
    orientation: Orientation | None = None,
) -> Iterator[np.ndarray]:
    """Yield uint8 (H, W, 3) RGB frames of ``path`` sampled at ``fps`` (``None``: every frame as decoded).

    Any bit depth or pixel format becomes 8-bit RGB by one rule (``pixels``: 16-bit by round(v / 257), alpha
    dropped). A folder holds one image per frame (png/jpg/tif, in natural order: ``2.jpg`` before ``10.jpg``),
    shown at ``folder_fps``. With ``autorotate``, frames are turned upright by the display matrix or
    EXIF orientation, and ``orientation`` (when given) records what was turned. Raises
    ConversionError for anything that cannot be read, also part way.
    """
    for timed in iter_timed_frames(path, fps, folder_fps=folder_fps, autorotate=autorotate, orientation=orientation):
        yield timed.item


def iter_timed_frames(
    path: str | os.PathLike[str],
    fps: float | None = DEFAULT_FPS,
    *,
    folder_fps: float = DEFAULT_FPS,
    autorotate: bool = True,
    orientation: Orientation | None = None,
) -> Iterator[Timed[np.ndarray]]:
    """``iter_frames`` with each frame's time span in seconds from the first frame (``timing.Timed``)."""
    path = Path(path)
    record = orientation if orientation is not None else Orientation()
    clock = Clock()
    timed = (
        _folder_frames(path, folder_fps, autorotate, record, clock)
        if path.is_dir()
        else _video_frames(path, autorotate, record, clock)
    )
    yield from select(_same_size(path, timed), None if fps is None else _positive_fraction(fps, "fps"), clock)


def _video_frames(path: Path, autorotate: bool, orientation: Orientation, clock: Clock) -> Iterator[_Timed]:
    import av
    from av.sidedata.sidedata import Type
    from av.video.reformatter import VideoReformatter

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ConversionError(path, "no video stream")
            stream = container.streams.video[0]
            period = 1 / stream.average_rate if stream.average_rate else None
            clock.rate, clock.time_base = stream.average_rate or None, stream.time_base
            first_pts, reformatter = None, VideoReformatter()
            for index, frame in enumerate(container.decode(stream)):
                if frame.pts is None or frame.time_base is None:
                    if period is None:
                        raise ConversionError(path, f"frame {index} has no timestamp and the stream no rate")
                    start, duration = index * period, period
                else:
                    first_pts = frame.pts if first_pts is None else first_pts
                    start = (frame.pts - first_pts) * frame.time_base
                    duration = frame.duration * frame.time_base if frame.duration else period
                image = frame_rgb(frame, reformatter)
                if autorotate:
                    matrix = frame.side_data.get(Type.DISPLAYMATRIX)
                    turn = from_display_matrix(None if matrix is None else bytes(matrix), path)
                    orientation.note(turn, "display matrix")
                    image = turn.apply(image)
                yield start, duration, image
    except av.FFmpegError as err:
        raise ConversionError(path, f"cannot decode: {err.strerror or err}") from err
    except OSError as err:
        raise ConversionError(path, f"cannot read: {err.strerror or err}") from err


def _folder_frames(
    path: Path, fps: float, autorotate: bool, orientation: Orientation, clock: Clock
) -> Iterator[_Timed]:
    from PIL import Image, UnidentifiedImageError

    files = sorted(
        (p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")),
        key=_natural_key,
    )
    if not files:
        raise ConversionError(path, f"no frames ({', '.join(IMAGE_SUFFIXES)} files) in this folder")
    clock.rate = _positive_fraction(fps, "folder fps")
    period = clock.time_base = 1 / clock.rate
    for index, file in enumerate(files):
        try:
            with Image.open(file) as image:
                frame = image_rgb(image, file)
                turn = from_exif(image.getexif().get(_EXIF_ORIENTATION)) if autorotate else Turn()
        except (UnidentifiedImageError, OSError) as err:
            raise ConversionError(file, f"cannot read image: {err}") from err
        orientation.note(turn, "EXIF orientation")
        yield index * period, period, turn.apply(frame)


def _same_size(path: Path, frames: Iterator[_Timed]) -> Iterator[_Timed]:
    """Refuse a clip whose frame size changes: crops and flow assume one geometry."""
    first = None
    for index, item in enumerate(frames):
        shape = item[2].shape
        first = shape if first is None else first
        if shape != first:
            raise ConversionError(path, f"frame {index} is {shape[1]}x{shape[0]}, the first was {first[1]}x{first[0]}")
        yield item


def _natural_key(path: Path) -> list[int | str]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _positive_fraction(value: float, what: str) -> Fraction:
    if not value > 0:
        raise ConversionError(None, f"{what} must be positive, got {value}")
    return Fraction(value).limit_denominator(1_000_000)
