"""Downloading official checkpoints, against a local HTTP server on 127.0.0.1 serving a generated one."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from converter.errors import ConversionError
from converter.fetch import DATA, INDEX, Official, fetch


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(tmp_path):
    """Serves ``tmp_path/site`` on an ephemeral loopback port; yields (root folder, base URL)."""
    root = tmp_path / "site"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    thread.join(timeout=10)


def _publish(official_checkpoint, root: Path) -> Official:
    prefix = official_checkpoint("rgb_scratch", num_classes=5)
    shutil.copytree(prefix.parent, root / "rgb_scratch")
    index = (root / "rgb_scratch" / INDEX).read_bytes()
    return Official(hashlib.sha256(index).hexdigest(), (root / "rgb_scratch" / DATA).stat().st_size)


def test_download_verifies_and_lands(official_checkpoint, server, tmp_path):
    root, url = server
    manifest = {"rgb_scratch": _publish(official_checkpoint, root)}
    dest = tmp_path / "checkpoints"
    prefix = fetch("rgb_scratch", dest, base_url=url, manifest=manifest, log=lambda _: None)
    assert prefix == dest / "rgb_scratch" / "model.ckpt"
    assert (dest / "rgb_scratch" / DATA).read_bytes() == (root / "rgb_scratch" / DATA).read_bytes()
    assert [p.name for p in dest.iterdir()] == ["rgb_scratch"]


@pytest.mark.parametrize("damage", ["flip a data byte", "wrong index checksum", "truncate data", "missing file"])
def test_bad_download_is_not_kept(official_checkpoint, server, tmp_path, damage):
    root, url = server
    manifest = {"rgb_scratch": _publish(official_checkpoint, root)}
    data = root / "rgb_scratch" / DATA
    if damage == "flip a data byte":
        raw = bytearray(data.read_bytes())
        raw[100] ^= 1
        data.write_bytes(bytes(raw))
        expected = "CRC32C"
    elif damage == "wrong index checksum":
        manifest = {"rgb_scratch": Official("0" * 64, manifest["rgb_scratch"].data_size)}
        expected = "checksum mismatch"
    elif damage == "truncate data":
        data.write_bytes(data.read_bytes()[:-4])
        expected = "bytes, expected"
    else:
        data.unlink()
        expected = "404"
    dest = tmp_path / "checkpoints"
    with pytest.raises(ConversionError, match=expected):
        fetch("rgb_scratch", dest, base_url=url, manifest=manifest, log=lambda _: None)
    assert list(dest.iterdir()) == []


def test_cli_names_are_the_manifest():
    from converter.commands.fetch import NAMES
    from converter.fetch import OFFICIAL

    assert tuple(OFFICIAL) == NAMES


def test_unknown_name():
    with pytest.raises(ConversionError, match="unknown checkpoint 'rgb_tiny'"):
        fetch("rgb_tiny", Path("unused"))


def test_fetch_without_dest_fills_the_user_cache_converted(official_checkpoint, server, tmp_path, monkeypatch, capsys):
    """`fetch NAME` (no --dest): the verified checkpoint under $I3D_CONVERTER_HOME/checkpoints, converted to
    $I3D_CONVERTER_HOME/weights/NAME.safetensors, where the commands look; a second run keeps it."""
    import converter.fetch
    from converter.cli import main
    from converter.video.streams import default_weights

    root, url = server
    manifest = _publish(official_checkpoint, root)
    monkeypatch.setattr(
        converter.fetch.fetch, "__kwdefaults__", {**fetch.__kwdefaults__, "manifest": {"rgb_scratch": manifest}}
    )
    home = tmp_path / "home"
    monkeypatch.setenv("I3D_CONVERTER_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert main(["fetch", "rgb_scratch", "--base-url", url]) == 0
    weights = home / "weights" / "rgb_scratch.safetensors"
    assert (home / "checkpoints" / "rgb_scratch" / INDEX).is_file() and weights.is_file()
    assert f"wrote {weights} (mapping deepmind, prefix 'RGB/inception_i3d/': 230 matched" in capsys.readouterr().out
    assert default_weights("rgb") == weights
    assert main(["fetch", "rgb_scratch", "--base-url", url]) == 0
    assert f"{weights}: present, kept" in capsys.readouterr().out
