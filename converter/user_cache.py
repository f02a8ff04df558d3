"""Where the tool keeps what it makes once per machine: ``$I3D_CONVERTER_HOME``, else ``~/.cache/i3d-converter``."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "I3D_CONVERTER_HOME"


def cache_home() -> Path:
    """The user cache folder (not created here): ``$I3D_CONVERTER_HOME`` when set, else ``~/.cache/i3d-converter``."""
    given = os.environ.get(ENV_VAR, "").strip()
    return Path(given).expanduser() if given else Path.home() / ".cache" / "i3d-converter"
