"""Output paths: every writer creates the folders above its output (as TensorFlow's saver does) and writes
through a temporary file renamed into place, so a failure leaves no half-written output."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from converter.errors import ConversionError


def check_parent(path: Path) -> None:
    """Refuse, before any work, an output whose folder cannot be made: a file where a folder must be."""
    for folder in Path(path).absolute().parents:
        if folder.exists():
            if not folder.is_dir():
                raise ConversionError(path, f"cannot create the output folder: {folder} is a file")
            return


def make_parent(path: Path) -> None:
    """Create the folders above ``path`` (none when they exist), naming the one that cannot be made."""
    check_parent(path)
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConversionError(path, f"cannot create the output folder: {err.strerror or err}") from None


def write_bytes(path: Path, data: bytes, what: str = "") -> Path:
    """``data`` to ``path`` atomically (a complete file or none), folders created; returns ``path``."""
    make_parent(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as err:
        raise ConversionError(path, f"cannot write{' ' + what if what else ''}: {err.strerror or err}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: Path, text: str) -> None:
    """``text`` to ``path`` (UTF-8) atomically, folders created."""
    write_bytes(path, text.encode("utf-8"))
