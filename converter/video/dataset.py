"""A dataset as input: video files, folders searched recursively, and ``@list.txt`` files, and each
process's share of it.

Each video gets an output name, its path relative to what was given without the suffix, so a
folder ``data/`` holding ``train/0001.mp4`` and ``val/0001.mp4`` gives ``train/0001`` and
``val/0001`` (the output tree mirrors the input tree; they never collide). A given file is named by
its stem; a line of a list by its path relative to the list's folder. A folder that directly holds
images (png/jpg) is one video (its frames); any other folder is searched for videos and such frame
folders, hidden entries skipped. Entries are sorted by name, so every process sees the same list.

Shares: under torchrun (``--nproc_per_node=K``, any number of machines) rank ``r`` of ``K`` takes
videos ``r, r + K, …``; ``--shard I/N`` (or a Slurm array's ``SLURM_ARRAY_TASK_ID``/``_COUNT``)
splits the same way between independent jobs, and both combine (shard ``I`` of ``N``, then rank
``r`` of ``K`` within it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from converter.errors import ConversionError
from converter.video.decode import IMAGE_SUFFIXES

VIDEO_SUFFIXES = (
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts", ".ogv", ".gif"
)  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """One video: its ``source`` (file or frame folder) and output ``name`` (a relative POSIX path, no suffix)."""

    source: Path
    name: str


def expand(inputs: Sequence[str | os.PathLike[str]]) -> list[Entry]:
    """Every video of ``inputs`` (files, folders, ``@list.txt``), in order (module doc).

    Raises ConversionError for a missing input or list, an empty folder, or two videos with one name.
    A path named in a list that is missing is kept: it fails like a broken video, the others go on.
    """
    entries: list[Entry] = []
    for given in inputs:
        text = os.fspath(given)
        if text.startswith("@"):
            entries += _from_list(Path(text[1:]))
        else:
            path = Path(text)
            if not path.exists():
                raise ConversionError(path, "not found (give video files, folders or @list.txt)")
            entries += _from_path(path, path.stem if path.is_file() else path.name, top=True)
    return _unique(entries)


def _from_list(path: Path) -> list[Entry]:
    if not path.is_file():
        raise ConversionError(path, "list not found (@LIST: a text file with one video path per line)")
    base = path.parent
    entries: list[Entry] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        source = base / text
        relative = Path(text)
        if relative.is_absolute() or ".." in relative.parts:  # outside the list's folder: named by its name
            relative = Path(relative.name)
        is_video = source.suffix.lower() in VIDEO_SUFFIXES
        entries += _from_path(source, (relative.with_suffix("") if is_video else relative).as_posix(), top=False)
    return entries


def _from_path(path: Path, name: str, *, top: bool) -> list[Entry]:
    if not path.is_dir() or _is_frame_folder(path):
        return [Entry(path, name)]
    found = [
        Entry(p, p.relative_to(path).with_suffix("").as_posix())
        for p in sorted(path.rglob("*"))
        if not any(part.startswith(".") for part in p.relative_to(path).parts)
        and ((p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES) or (p.is_dir() and _is_frame_folder(p)))
    ]
    found = [e for e in found if not any(_is_frame_folder(parent) for parent in e.source.parents if parent != path)]
    if not found and top:
        raise ConversionError(path, f"no videos ({', '.join(VIDEO_SUFFIXES)}) or frame folders in this folder")
    return [Entry(e.source, e.name if top else f"{name}/{e.name}") for e in found]


def _is_frame_folder(path: Path) -> bool:
    return path.is_dir() and any(
        p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") for p in path.iterdir()
    )


def _unique(entries: list[Entry]) -> list[Entry]:
    seen: dict[str, Path] = {}
    for entry in entries:
        other = seen.setdefault(entry.name, entry.source)
        if other != entry.source:
            raise ConversionError(entry.source, f"same output name {entry.name!r} as {other}; rename one of them")
    return list({entry.name: entry for entry in entries}.values())


def parse_shard(text: str | None, environ: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """``I/N`` (0 <= I < N) to (I, N); without one, a Slurm array's task id and count, else (0, 1)."""
    if text is None:
        if "SLURM_ARRAY_TASK_ID" in environ and "SLURM_ARRAY_TASK_COUNT" in environ:
            offset = int(environ.get("SLURM_ARRAY_TASK_MIN", "0"))
            text = f"{int(environ['SLURM_ARRAY_TASK_ID']) - offset}/{environ['SLURM_ARRAY_TASK_COUNT']}"
        else:
            return 0, 1
    index, _, count = text.partition("/")
    try:
        shard = int(index), int(count)
    except ValueError:
        shard = (-1, 0)
    if not 0 <= shard[0] < shard[1]:
        raise ConversionError(None, f"--shard must be I/N with 0 <= I < N (e.g. 0/4), got {text!r}")
    return shard


def share(entries: Sequence[Entry], shard: tuple[int, int], rank: int = 0, world: int = 1) -> list[Entry]:
    """The entries of shard ``shard`` = (I, N), then of ``rank`` of ``world`` within it (round robin)."""
    index, count = shard
    return list(entries[index::count][rank::world])
