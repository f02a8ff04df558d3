"""``<out>/manifest.jsonl``: one JSON line per video finished or failed, by any process or job.

Each line is appended with one ``write`` on a file opened ``O_APPEND``, so lines of concurrent jobs
never interleave (on local file systems; on NFS, appends from several machines may, which readers
tolerate by skipping a line that does not parse). The last line of a video is its latest outcome.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MANIFEST = "manifest.jsonl"


def settings_hash(recorded: dict) -> str:
    """The first 16 hex digits of the SHA-256 of the settings as canonical JSON."""
    return hashlib.sha256(json.dumps(recorded, sort_keys=True).encode()).hexdigest()[:16]


def append(out_dir: Path, record: dict) -> None:
    """Append ``record`` as one line of ``out_dir/manifest.jsonl`` in a single write."""
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(out_dir / MANIFEST, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read(out_dir: Path) -> list[dict]:
    """Every readable line of the manifest (none when there is no manifest)."""
    path = out_dir / MANIFEST
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records
