"""Where the official kinetics-i3d reference data lives (label maps, index files, cricket GIFs).

It is never copied into the project: it is read from ``$KINETICS_I3D_DIR`` or, when the package runs
from a source checkout, ``../shared/kinetics-i3d`` beside the repository. An installed wheel has no
such neighbour (its parent is ``site-packages``), so there only the environment variable counts.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "KINETICS_I3D_DIR"
REPO_ROOT = Path(__file__).resolve().parent.parent
HOW_TO_GET = (
    f"clone https://github.com/deepmind/kinetics-i3d (label maps, data/checkpoints/*/model.ckpt.index, "
    f"data/*.gif) and point ${ENV_VAR} at a folder laid out like ../shared/kinetics-i3d"
)


def default_dir() -> Path | None:
    """``../shared/kinetics-i3d`` beside a source checkout (a folder with ``setup.cfg``), else None."""
    return REPO_ROOT.parent / "shared" / "kinetics-i3d" if (REPO_ROOT / "setup.cfg").is_file() else None


def reference_dir() -> Path | None:
    """The reference data folder, or None when it is not there."""
    env = os.environ.get(ENV_VAR)
    path = Path(env) if env else default_dir()
    return path if path is not None and path.is_dir() else None


def label_map(num_classes: int) -> list[str] | None:
    """Kinetics class names in logit order for 400 or 600 classes, when the data is present."""
    root = reference_dir()
    name = {400: "label_map.txt", 600: "label_map_600.txt"}.get(num_classes)
    if root is None or name is None or not (root / name).is_file():
        return None
    labels = [line.strip() for line in (root / name).read_text().splitlines() if line.strip()]
    return labels if len(labels) == num_classes else None
