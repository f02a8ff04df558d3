"""Download the official kinetics-i3d checkpoints, verified before they are kept.

The index file is pinned by sha256; the data shard by its size and by the CRC32C the index stores
for every tensor, so a truncated or corrupted download is caught tensor by tensor. Files land in a
temporary folder that is renamed into place only when everything checks out.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from converter.errors import ConversionError
from converter.tfbundle import BundleReader

BASE_URL = "https://github.com/deepmind/kinetics-i3d/raw/master/data/checkpoints"


@dataclass(frozen=True)
class Official:
    index_sha256: str
    data_size: int


# sha256 of each official model.ckpt.index and the size of its single data shard (commit 0667e88).
OFFICIAL: dict[str, Official] = {
    "rgb_imagenet": Official("f4bfd6f4af485f276c68333d3eca3697b691bb647f0167a03fe021147ca7f8eb", 50818176),
    "rgb_scratch": Official("4fcd08b3e140f0267730e462295054c6a38f6cfd9991c310ee3d37bbdfd7030c", 50818176),
    "flow_imagenet": Official("71594ac5f63cb0eb58512a13b56097dc0368d09e5959dffcc6e7a45b19832366", 50730368),
    "flow_scratch": Official("81fccedbe8352f8509b05ca9f2959f5aac13552dc680c808acd4f39be82620e6", 50730368),
    "rgb_scratch_kin600": Official("366815af85b76e46222db13761f087584b3dc9c56abf67b822949846302e432a", 103218112),
}
INDEX, DATA = "model.ckpt.index", "model.ckpt.data-00000-of-00001"


def _download(url: str, path: Path, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, path.open("wb") as f:
            shutil.copyfileobj(response, f, 1 << 20)
    except urllib.error.HTTPError as err:
        raise ConversionError(url, f"download failed: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise ConversionError(url, f"download failed: {getattr(err, 'reason', err)}") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    name: str,
    dest: Path,
    *,
    base_url: str = BASE_URL,
    manifest: dict[str, Official] = OFFICIAL,
    timeout: float = 60.0,
    log: Callable[[str], None] = print,
) -> Path:
    """Download checkpoint ``name`` into ``dest/name/``; returns its prefix. Verified or not kept at all."""
    if name not in manifest:
        raise ConversionError(None, f"unknown checkpoint {name!r} (known: {', '.join(manifest)})")
    expected = manifest[name]
    final = dest / name
    if (final / INDEX).is_file():
        log(f"{final}: present, skipped")
        return final / "model.ckpt"
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / f".{name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        url = f"{base_url.rstrip('/')}/{name}"
        _download(f"{url}/{INDEX}", tmp / INDEX, timeout)
        if _sha256(tmp / INDEX) != expected.index_sha256:
            raise ConversionError(f"{url}/{INDEX}", "checksum mismatch (not the official index)")
        _download(f"{url}/{DATA}", tmp / DATA, timeout)
        size = (tmp / DATA).stat().st_size
        if size != expected.data_size:
            raise ConversionError(f"{url}/{DATA}", f"{size} bytes, expected {expected.data_size}")
        with BundleReader(tmp / "model.ckpt") as bundle:
            for key in bundle.keys():
                bundle.read(key)  # verifies the tensor's CRC32C
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"{final}: downloaded and verified ({expected.data_size / 1e6:.1f} MB, every tensor's CRC32C)")
    return final / "model.ckpt"
