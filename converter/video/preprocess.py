"""Pre-process a dataset of clips into I3D inputs, in the layout of the re-trainable I3D project.

    data/classes.txt                               one class name per line
    data/videos/raw/<class>/<video>.<ext>          or  data/images/raw/<class>/<series>/*.jpg
    data/<videos|images>/pre-processed/<split>/<class>/<name>/{rgb.npy, flow.npy, meta.json}

``rgb.npy`` is (T, 224, 224, 3) and ``flow.npy`` (T, 224, 224, 2), T >= ``min_frames`` (short clips
are looped, see ``transforms.loop_pad``). Every file is written to a temporary name and renamed
when complete, and ``meta.json`` (settings, frame counts) is written last: a clip counts as done
only when it is there with the same settings, so an interrupted run is resumed by running it again.
A clip that cannot be read is reported and skipped; the others go on.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from converter.errors import ConversionError, fields
from converter.progress import progress as progress_counter
from converter.video.decode import DEFAULT_FPS, Orientation, iter_frames
from converter.video.flow import METHODS, RECIPE_METHOD, RECIPE_METHODS, iter_flow
from converter.video.transforms import MIN_FRAMES, iter_rgb, loop_pad

CLASSES_FILE = "classes.txt"
KINDS = ("videos", "images")
SPLITS = ("train", "val")
DTYPES = ("float32", "float16")
OUTPUTS = ("rgb.npy", "flow.npy")
META = "meta.json"
MANIFEST = "split.txt"


@dataclass(frozen=True)
class Settings:
    """What the outputs depend on; recorded in meta.json so a rerun never mixes settings."""

    fps: float | None = DEFAULT_FPS
    folder_fps: float = DEFAULT_FPS
    flow_method: str = RECIPE_METHOD
    dtype: str = "float32"
    min_frames: int = MIN_FRAMES
    max_frames: int | None = None
    autorotate: bool = True  # display matrix / EXIF orientation applied (see decode)

    def __post_init__(self) -> None:
        too_few = self.max_frames is not None and self.max_frames < 1
        problems = {
            "fps must be positive or None": (self.fps is not None and not self.fps > 0, "fps"),
            "folder fps must be positive": (not self.folder_fps > 0, "folder_fps"),
            f"flow method must be one of {', '.join(METHODS)}": (self.flow_method not in METHODS, "flow_method"),
            f"dtype must be one of {', '.join(DTYPES)}": (self.dtype not in DTYPES, "dtype"),
            "min frames must be at least 1": (self.min_frames < 1, "min_frames"),
            "max frames must be at least 1 or None": (too_few, "max_frames"),
        }
        for reason, (bad, name) in problems.items():
            if bad:
                raise ConversionError(None, f"{reason}; got {fields(self, name)}")


@dataclass(frozen=True)
class Item:
    """One clip: a video file or a folder of frames, under ``<kind>/raw/<label>/``."""

    source: Path
    kind: str
    label: str
    name: str
    split: str = SPLITS[0]

    flat: bool = False  # a video given as such (file, folder, @list): outputs in <output>/<name>/

    @property
    def key(self) -> str:
        return self.name if self.flat else f"{self.label}/{self.name}"

    def out_dir(self, output: Path, split: str | None = None) -> Path:
        if self.flat:
            return output / self.name
        return output / self.kind / "pre-processed" / (split or self.split) / self.label / self.name


@dataclass(frozen=True)
class Outcome:
    item: Item
    status: str  # "done", "skipped" or "failed"
    frames: int = 0
    flow_pairs: int = 0
    flow_seconds: float = 0.0
    reason: str = ""
    orientation: str = ""


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1
    flow_method: str = RECIPE_METHOD

    def of(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    def lines(self) -> list[str]:
        done, skipped, failed = self.of("done"), self.of("skipped"), self.of("failed")
        lines = [
            f"{len(done)} pre-processed, {len(skipped)} already done, {len(failed)} failed "
            f"of {len(self.outcomes)} clips in {self.seconds:.1f} s"
        ]
        pairs, seconds = sum(o.flow_pairs for o in done), sum(o.flow_seconds for o in done)
        if pairs:
            recipe = "" if self.flow_method in RECIPE_METHODS else ", NOT the I3D recipe"
            lines.append(
                f"flow ({self.flow_method}{recipe}): {pairs} frame pairs in {seconds:.1f} s of worker time, "
                f"{pairs / seconds:.2f} frames/s per worker ({self.workers} worker(s), decoding included)"
            )
        lines += [f"{o.item.key}: frames {o.orientation}" for o in done if o.orientation]
        lines += [f"failed: {o.reason}" for o in failed]
        return lines


def preprocess(
    data_dir: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
    *,
    val_ratio: float = 0.2,
    seed: int = 0,
    split_file: str | os.PathLike[str] | None = None,
    workers: int = 1,
    force: bool = False,
    progress: bool = True,
) -> Summary:
    """Pre-process every clip under ``data_dir`` into ``output`` (default: ``data_dir``) and summarise."""
    start = time.perf_counter()
    settings = settings or Settings()
    data_dir = Path(data_dir)
    output = Path(output) if output is not None else data_dir
    if workers < 1:
        raise ConversionError(None, f"workers must be at least 1, got {workers}")
    items = find_items(data_dir)
    items = split_from_file(items, Path(split_file)) if split_file else split_by_ratio(items, val_ratio, seed)
    check_splits_unchanged(items, output)
    write_manifests(items, output)
    return run_items(items, output, settings, workers=workers, force=force, progress=progress, start=start)


def run_items(
    items: list[Item], output: Path, settings: Settings, *, workers: int, force: bool, progress: bool, start: float
) -> Summary:
    """Pre-process ``items`` into ``output`` (in ``workers`` processes) and summarise them in their order."""
    summary = Summary(workers=workers, flow_method=settings.flow_method)
    bar = progress_counter(len(items), unit="clip", desc="preprocess", enabled=progress)
    try:
        for outcome in _run(items, output, settings, force, workers):
            summary.outcomes.append(outcome)
            bar.update(1)
    finally:
        bar.close()
    order = {item: index for index, item in enumerate(items)}
    summary.outcomes.sort(key=lambda o: order[o.item])
    summary.seconds = time.perf_counter() - start
    return summary


def read_classes(path: Path) -> list[str]:
    if not path.is_file():
        raise ConversionError(path, "missing: list the class names there, one per line")
    classes = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    duplicates = sorted({c for c in classes if classes.count(c) > 1})
    if duplicates:
        raise ConversionError(path, f"class listed twice: {duplicates[0]}")
    return classes


def find_items(data_dir: Path) -> list[Item]:
    """Every clip under ``<kind>/raw/<class>/``, in sorted order; classes must be in classes.txt."""
    raws = [(kind, data_dir / kind / "raw") for kind in KINDS if (data_dir / kind / "raw").is_dir()]
    if not raws:
        raise ConversionError(data_dir, f"no {' or '.join(f'{kind}/raw' for kind in KINDS)} folder")
    classes = set(read_classes(data_dir / CLASSES_FILE))
    items: list[Item] = []
    for kind, raw in raws:
        for class_dir in _visible(raw):
            if not class_dir.is_dir():
                raise ConversionError(class_dir, "expected only class folders here")
            if class_dir.name not in classes:
                if not _visible(class_dir):
                    continue  # an empty folder of an unlisted class holds nothing to refuse
                raise ConversionError(class_dir, f"class not listed in {data_dir / CLASSES_FILE}")
            for entry in _visible(class_dir):
                items.append(Item(entry, kind, class_dir.name, entry.name if entry.is_dir() else entry.stem))
    seen: dict[tuple[str, str], Path] = {}
    for item in items:
        other = seen.setdefault((item.kind, item.key), item.source)
        if other != item.source:
            raise ConversionError(item.source, f"same output name as {other.name}; rename one of them")
    return items


def split_by_ratio(items: list[Item], val_ratio: float, seed: int) -> list[Item]:
    """Per class, a seeded shuffle sends round(ratio * n) clips to val; the same listing, the same split."""
    if not 0 <= val_ratio <= 1:
        raise ConversionError(None, f"val ratio must be in [0, 1], got {val_ratio}")
    val: set[Item] = set()
    for label in sorted({item.label for item in items}):
        members = sorted((item for item in items if item.label == label), key=lambda i: (i.kind, i.name))
        random.Random(f"{seed}/{label}").shuffle(members)
        val.update(members[: int(val_ratio * len(members) + 0.5)])
    return [replace(item, split=SPLITS[item in val]) for item in items]


def split_from_file(items: list[Item], path: Path) -> list[Item]:
    """Splits given as lines ``<split> <class>/<name>`` (like the ``split.txt`` written), every clip."""
    if not path.is_file():
        raise ConversionError(path, "split file not found")
    given: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        split, _, key = line.strip().partition(" ")
        if split not in SPLITS or "/" not in key:
            raise ConversionError(f"{path}:{number}", f"expected '<{'|'.join(SPLITS)}> <class>/<name>', got {line!r}")
        given[key.strip()] = split
    keys = {item.key for item in items}
    missing = [item.key for item in items if item.key not in given]
    unknown = sorted(set(given) - keys)
    if missing or unknown:
        what = f"no split for {missing[0]}" if missing else f"lists {unknown[0]}, which is not a clip"
        raise ConversionError(path, f"{what} ({len(missing)} clips unlisted, {len(unknown)} entries unknown)")
    return [replace(item, split=given[item.key]) for item in items]


def check_splits_unchanged(items: list[Item], output: Path) -> None:
    """Refuse to put a clip done for one split into the other: it would then be in both."""
    moved = [
        (item, split)
        for item in items
        for split in SPLITS
        if split != item.split and (item.out_dir(output, split) / META).exists()
    ]
    if moved:
        item, split = moved[0]
        manifest = output / item.kind / "pre-processed" / MANIFEST
        raise ConversionError(
            item.out_dir(output, split),
            f"pre-processed for {split}, now it would be in {item.split} ({len(moved)} clips moved); "
            f"give the old split (--split-file {manifest}) or delete the old outputs",
        )


def write_manifests(items: list[Item], output: Path) -> None:
    for kind in sorted({item.kind for item in items}):
        lines = sorted(f"{item.split} {item.key}\n" for item in items if item.kind == kind)
        root = output / kind / "pre-processed"
        root.mkdir(parents=True, exist_ok=True)
        _write_atomic(root / MANIFEST, "".join(lines).encode())


def process_item(item: Item, output: Path, settings: Settings, force: bool = False) -> Outcome:
    """Pre-process one clip (or find it done); a bad clip becomes a failed Outcome, not an exception."""
    out_dir = item.out_dir(output)
    try:
        if not force and _finished(out_dir, settings):
            return Outcome(item, "skipped")
        return _compute(item, out_dir, settings)
    except ConversionError as err:  # a message, not the exception: it must cross process boundaries
        if out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        return Outcome(item, "failed", reason=str(err))


def _compute(item: Item, out_dir: Path, settings: Settings) -> Outcome:
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [out_dir / META, *out_dir.glob(".*.tmp")]:
        stale.unlink(missing_ok=True)
    source = _Source(item, settings)
    frames = write_npy(out_dir / OUTPUTS[0], loop_pad(iter_rgb(source), settings.min_frames), settings.dtype)
    decoded = source.count
    if not frames:
        raise ConversionError(item.source, "no frames decoded")
    start = time.perf_counter()
    flow_frames = write_npy(
        out_dir / OUTPUTS[1],
        loop_pad(iter_flow(source, settings.flow_method), settings.min_frames),
        settings.dtype,
    )
    seconds = time.perf_counter() - start
    if flow_frames != frames:  # only if the file changed between the two passes
        raise ConversionError(item.source, f"decoded {decoded} frames, then {source.count}")
    meta = {
        "clip": str(item.source) if item.flat else f"{item.kind}/raw/{item.label}/{item.source.name}",
        "split": None if item.flat else item.split,
        "frames": frames,
        "decoded_frames": decoded,
        "rotation": source.orientation.describe(),
        "settings": asdict(settings),
    }
    _write_atomic(out_dir / META, (json.dumps(meta, indent=2) + "\n").encode())
    pairs, turned = max(decoded - 1, 0), source.orientation.describe()
    return Outcome(item, "done", frames=frames, flow_pairs=pairs, flow_seconds=seconds, orientation=turned)


def write_npy(path: Path, frames: Iterable[np.ndarray], dtype: str) -> int:
    """Stream equal-shaped frames into ``path`` as one (N, ...) .npy, atomically; N is returned (0: no file).

    Frames go to a temporary body file as they come; once N is known the header and body are
    copied into a second temporary file, which is renamed over ``path``.
    """
    dtype_ = np.dtype(dtype)
    body = _temp(path, ".body.tmp")
    whole = _temp(path, ".tmp")
    shape, count = None, 0
    try:
        with open(body, "wb") as out:
            for frame in frames:
                shape = shape or frame.shape
                if frame.shape != shape:
                    raise ConversionError(path, f"frame {count} has shape {frame.shape}, the first {shape}")
                out.write(np.ascontiguousarray(frame, dtype=dtype_).tobytes())
                count += 1
        if count:
            header = {
                "descr": np.lib.format.dtype_to_descr(dtype_),
                "fortran_order": False,
                "shape": (count, *shape),
            }
            with open(whole, "wb") as out, open(body, "rb") as data:
                np.lib.format.write_array_header_1_0(out, header)
                shutil.copyfileobj(data, out, 1 << 22)
                out.flush()
                os.fsync(out.fileno())
            os.replace(whole, path)
    finally:
        body.unlink(missing_ok=True)
        whole.unlink(missing_ok=True)
    return count


class _Source:
    """The clip's sampled frames, at most ``max_frames``; iterable more than once, counting each pass."""

    def __init__(self, item: Item, settings: Settings) -> None:
        self.item, self.settings, self.count = item, settings, 0
        self.orientation = Orientation()

    def __iter__(self) -> Iterator[np.ndarray]:
        self.count = 0
        frames = iter_frames(
            self.item.source,
            self.settings.fps,
            folder_fps=self.settings.folder_fps,
            autorotate=self.settings.autorotate,
            orientation=self.orientation,
        )
        try:
            for frame in islice(frames, self.settings.max_frames):
                self.count += 1
                yield frame
        finally:
            frames.close()


def _finished(out_dir: Path, settings: Settings) -> bool:
    meta_path = out_dir / META
    if not meta_path.is_file():
        return False
    try:
        recorded = json.loads(meta_path.read_text(encoding="utf-8"))["settings"]
    except (ValueError, KeyError, TypeError) as err:
        raise ConversionError(meta_path, f"unreadable ({err}); pass --force to redo this clip") from err
    if recorded != asdict(settings):
        changed = ", ".join(
            f"{k} {recorded.get(k)!r} -> {v!r}" for k, v in asdict(settings).items() if recorded.get(k) != v
        )
        raise ConversionError(meta_path, f"done with other settings ({changed}); pass --force to redo it")
    return all((out_dir / name).is_file() for name in OUTPUTS)


def _run(items: list[Item], output: Path, settings: Settings, force: bool, workers: int) -> Iterator[Outcome]:
    if workers == 1:
        for item in items:
            yield process_item(item, output, settings, force)
        return
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_one_thread)
    try:
        futures = [pool.submit(process_item, item, output, settings, force) for item in items]
        for future in as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(cancel_futures=True)


def _one_thread() -> None:
    """Workers share the cores, so OpenCV in each must not start a thread per core."""
    import cv2

    cv2.setNumThreads(1)


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _temp(path: Path, suffix: str) -> Path:
    """A new hidden file beside ``path``, unique to this process, with the umask's permissions."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")
    temp.open("xb").close()
    return temp


def _write_atomic(path: Path, data: bytes) -> None:
    temp = _temp(path, ".tmp")
    try:
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
