"""The user's cache folder, as torch.hub's and Hugging Face's: weights a pip user converts or fetches live here,
so commands find them from any folder."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """``$I3D_CONVERTER_HOME``, else ``~/.cache/i3d-converter`` (``weights/`` inside holds converted weights)."""
    return Path(os.environ.get("I3D_CONVERTER_HOME") or Path.home() / ".cache" / "i3d-converter").expanduser()
