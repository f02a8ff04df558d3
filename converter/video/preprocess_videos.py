"""``preprocess`` of videos given as files, folders (searched recursively) or ``@list.txt``, outside the
``classes.txt`` layout: ``<output>/<name>/{rgb.npy, flow.npy, meta.json}``, ``name`` mirroring each
video's path (``dataset.expand``); no classes and no split. The recipe, resuming and per-clip errors
are those of ``preprocess``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from converter.errors import ConversionError
from converter.video.dataset import expand
from converter.video.preprocess import Item, Settings, Summary, run_items


def preprocess_videos(
    inputs: list[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    settings: Settings | None = None,
    *,
    workers: int = 1,
    force: bool = False,
    progress: bool = True,
) -> Summary:
    """Pre-process videos given as files, folders (searched recursively) or ``@list.txt`` into
    ``output/<name>/`` (``name`` mirrors the video's path, see ``dataset.expand``); no classes, no split."""
    start = time.perf_counter()
    settings = settings or Settings()
    if workers < 1:
        raise ConversionError(None, f"workers must be at least 1, got {workers}")
    items = [Item(e.source, "videos", "", e.name, flat=True) for e in expand(inputs)]
    return run_items(items, Path(output), settings, workers=workers, force=force, progress=progress, start=start)
