"""Where FVD's videos come from, one video at a time: arrays in memory, ``.npy``/``.npz`` files (read video by
video, never loaded whole) and folder trees of videos, GIFs or frame folders.

Every source knows how many videos it has and yields ``(index, frames)`` with frames a (T, H, W, 3) array
in 0..255 (uint8 or float) for the indices it is asked for, so ranks of a distributed run each read
only their own share.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from converter.errors import ConversionError
from converter.video.pixels import IMAGE_SUFFIXES

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif")


class VideoSource:
    """Base: ``len(source)`` videos, ``source.videos(indices)`` yields ``(index, (T, H, W, 3) frames)``;
    ``item_name(index)`` names a video for the record (``name[index]`` unless the source knows better)."""

    name: str = ""

    def __len__(self) -> int:
        raise NotImplementedError

    def item_name(self, index: int) -> str:
        return f"{self.name}[{index}]"

    def videos(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        raise NotImplementedError


class ArraySource(VideoSource):
    """An (N, T, H, W, 3) array-like: numpy (memory-mapped or not) or torch (moved to numpy per video)."""

    def __init__(self, array, name: str = "array") -> None:
        _check_shape(tuple(array.shape), name)
        self.array, self.name = array, name

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def videos(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        for index in indices:
            video = self.array[index]
            yield index, video.numpy() if hasattr(video, "numpy") else np.asarray(video)


class ArrayFileSource(VideoSource):
    """The (N, T, H, W, 3) array of a ``.npy``, or one array of an ``.npz`` (compressed or not), read video by
    video at its offset: nothing is mapped or loaded whole, so memory holds one video whatever N is."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.member: str | None = None
        self.name = str(path)
        try:
            if path.suffix == ".npz":
                with zipfile.ZipFile(path) as archive:
                    members = [n for n in archive.namelist() if n.endswith(".npy")]
                    if len(members) != 1 and "videos.npy" not in members:
                        keys = ", ".join(m[:-4] for m in members)
                        raise ConversionError(path, f"holds {len(members)} arrays ({keys}); name one 'videos'")
                    self.member = members[0] if len(members) == 1 else "videos.npy"
                    self.name = f"{path}:{self.member[:-4]}"
            with self._open() as f:
                self.shape, self.dtype = _npy_header(f, self.name)
        except (OSError, zipfile.BadZipFile) as err:
            raise ConversionError(path, f"not a readable {path.suffix}: {err}") from None
        _check_shape(self.shape, self.name)

    def _open(self):
        if self.member is None:
            return open(self.path, "rb")
        return _ZipMember(self.path, self.member)

    def __len__(self) -> int:
        return self.shape[0]

    def videos(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        per_video = int(np.prod(self.shape[1:])) * self.dtype.itemsize
        with self._open() as f:
            _npy_header(f, self.name)
            start, position = f.tell(), 0
            for index in sorted(indices):
                if index != position:  # forward only: in an .npz, skipping decompresses and drops
                    f.seek(start + index * per_video)
                data = f.read(per_video)
                if len(data) != per_video:
                    raise ConversionError(self.name, f"truncated at video {index}")
                position = index + 1
                yield index, np.frombuffer(data, self.dtype).reshape(self.shape[1:])


class _ZipMember:
    """An archive member opened for reading, closing the archive with it."""

    def __init__(self, path: Path, member: str) -> None:
        self.archive = zipfile.ZipFile(path)
        self.file = self.archive.open(member)

    def __enter__(self):
        return self.file

    def __exit__(self, *exc) -> None:
        self.file.close()
        self.archive.close()


class FolderSource(VideoSource):
    """Videos (any PyAV format, GIFs) and frame folders (folders holding only images) found at any depth
    under a folder — ``UCF-101/<class>/<video>.avi``, SkyTimelapse's ``<video>/<clip>/<frame>.png`` —
    in natural order of their paths (stable across machines and file systems), each decoded when read."""

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self.root = path
        self.items = find_videos(path)
        if not self.items:
            raise ConversionError(
                path,
                f"no videos ({', '.join(VIDEO_SUFFIXES)}) or frame folders (folders holding only "
                f"{'/'.join(IMAGE_SUFFIXES)} images) in this folder or below it",
            )

    def item_name(self, index: int) -> str:
        return self.items[index].relative_to(self.root).as_posix()

    def __len__(self) -> int:
        return len(self.items)

    def videos(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        from converter.video.decode import iter_frames

        for index in indices:
            frames = list(iter_frames(self.items[index], fps=None))  # every frame as decoded
            if not frames:
                raise ConversionError(self.items[index], "no frames")
            yield index, np.stack(frames)


def open_source(videos) -> VideoSource:
    """A source for a path (folder, ``.npy``, ``.npz``) or an (N, T, H, W, 3) array-like."""
    if isinstance(videos, VideoSource):
        return videos
    if not isinstance(videos, (str, os.PathLike)):
        return ArraySource(videos)
    path = Path(videos)
    if path.is_dir():
        return FolderSource(path)
    if not path.is_file():
        raise ConversionError(path, "no such file or folder")
    if path.suffix in (".npy", ".npz"):
        return ArrayFileSource(path)
    raise ConversionError(path, "expected a folder of videos, a .npy/.npz array (N, T, H, W, 3) or statistics")


def _check_shape(shape: tuple[int, ...], name: str) -> None:
    if len(shape) != 5 or shape[-1] != 3 or 0 in shape[1:]:
        raise ConversionError(name, f"expected videos (N, T, H, W, 3) with values 0..255, got shape {shape}")


def _npy_header(f, name: str) -> tuple[tuple[int, ...], np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        read = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
        if read is None:
            raise ValueError(f".npy version {version} (save with numpy's default)")
        shape, fortran, dtype = read(f)
    except ValueError as err:
        raise ConversionError(name, f"not a .npy array: {err}") from None
    if fortran or dtype.hasobject:
        raise ConversionError(name, "a Fortran-ordered or object array cannot be streamed; save it C-ordered")
    return shape, dtype


def find_videos(root: Path) -> list[Path]:
    """Every video file and frame folder under ``root`` (hidden entries skipped), sorted by the natural
    order of their relative paths (``clip2`` before ``clip10``), a frame folder not searched further."""
    found: list[Path] = []
    pending, seen = [root], set()
    while pending:
        folder = pending.pop()
        if folder.resolve() in seen:  # a symbolic link back up the tree
            continue
        seen.add(folder.resolve())
        try:
            entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
        except OSError as err:
            raise ConversionError(folder, f"cannot list this folder: {err.strerror or err}") from None
        for entry in entries:
            if entry.is_dir():
                if _is_frame_folder(entry):
                    found.append(entry)
                else:
                    pending.append(entry)
            elif entry.suffix.lower() in VIDEO_SUFFIXES:
                found.append(entry)
    return sorted(found, key=lambda p: [_natural_key(part) for part in p.relative_to(root).parts])


def _is_frame_folder(folder: Path) -> bool:
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    return bool(entries) and all(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in entries)


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    return [(0, int(part)) if part.isdigit() else (1, part.lower()) for part in re.split(r"(\d+)", name)]
