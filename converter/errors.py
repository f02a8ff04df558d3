"""The toolkit's one error type: every bad input ends here, naming what and where."""

from __future__ import annotations

import os


def fields(obj: object, *names: str) -> str:
    """``name=value, …`` of some fields of a settings object, for messages: never its whole repr."""
    return ", ".join(f"{name}={getattr(obj, name)!r}" for name in names)


class ConversionError(Exception):
    """A problem with an input or output, reported as one line: ``path: reason``.

    ``path`` is the file (or ``file:key``) the problem is in; the CLI prints ``str(err)``
    and exits with status 2, so no traceback reaches the user.
    """

    def __init__(self, path: str | os.PathLike[str] | None, reason: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)
