"""The command line end to end: real conversions, and bad input that fails in one line with no output file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from converter.tfbundle import read_index
from converter.tfbundle.proto import encode_entry, encode_header
from converter.tfbundle.table import build_table

REPO = Path(__file__).resolve().parent.parent


def cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "converter", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("command", ["", "convert", "inspect", "fetch"])
def test_help_everywhere(command):
    result = cli(*([command] if command else []), "--help")
    assert result.returncode == 0 and "usage: python -m converter" in result.stdout


def test_convert_runs_on_numpy_alone(official_checkpoint, tmp_path):
    """The conversion process imports neither torch nor TensorFlow (nor any other heavy reader or the other
    commands): that is most of why a whole ``convert`` process takes well under a second."""
    heavy = ["torch", "tensorflow", "safetensors", "h5py", "cv2", "av", "converter.commands.finetune"]
    code = (
        "import sys; from converter.cli import main; code = main(sys.argv[1:]); "
        f"print([m for m in {heavy!r} if m in sys.modules]); sys.exit(code)"
    )
    argv = ["convert", str(official_checkpoint()), "--out", str(tmp_path / "w.safetensors")]
    done = subprocess.run([sys.executable, "-c", code, *argv], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_convert_official_layout_and_inspect(official_checkpoint, tmp_path):
    prefix = official_checkpoint("flow_scratch", in_channels=2, scope="Flow/inception_i3d/")
    out = tmp_path / "flow.safetensors"
    result = cli("convert", prefix, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "mapping deepmind, prefix 'Flow/inception_i3d/': 230 matched, 0 ignored, 0 unmatched" in result.stdout
    with safe_open(out, "np") as f:
        meta = f.metadata()
        assert len(list(f.keys())) == 230
    assert meta["architecture"] == "i3d" and meta["stream"] == "flow" and meta["mapping"] == "deepmind"
    assert json.loads(meta["config"]) == {"in_channels": 2, "num_classes": 400}
    assert meta["source"] == str(prefix) and len(meta["source_sha256"]) == 64
    inspected = cli("inspect", prefix)
    assert inspected.returncode == 0
    assert re.search(r"Flow/inception_i3d/Conv3d_1a_7x7/conv_3d/w +float32 +\[7, 7, 7, 2, 64\]", inspected.stdout)
    assert "deepmind: FITS" in inspected.stdout
    again = cli("convert", prefix, "--out", out)
    assert again.returncode == 2 and "exists (use --force" in again.stderr


def test_inspect_unknown_layout_shows_leftovers(official_checkpoint):
    prefix = official_checkpoint(extra={"RGB/inception_i3d/Extra/w": np.zeros(2, np.float32)})
    result = cli("inspect", prefix, "--no-tensors")
    assert result.returncode == 1
    assert "deepmind: does not fit" in result.stdout and "unmatched: RGB/inception_i3d/Extra/w" in result.stdout


def _retype(prefix: Path, name: str, tf_dtype: int) -> Path:
    """Rewrite the index so that tensor ``name`` claims dtype ``tf_dtype``."""
    entries = read_index(prefix)
    items = [(b"", encode_header(1))] + [
        (key.encode(), encode_entry(tf_dtype if key == name else e.tf_dtype, e.shape, e.offset, e.size, e.crc32c))
        for key, e in sorted(entries.items())
    ]
    Path(f"{prefix}.index").write_bytes(build_table(items))
    return prefix


def _corrupt(kind: str, prefix: Path) -> Path:
    index, data = Path(f"{prefix}.index"), Path(f"{prefix}.data-00000-of-00001")
    if kind == "truncated index":
        index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])
    elif kind == "wrong magic":
        index.write_bytes(index.read_bytes()[:-8] + b"\0" * 8)
    elif kind == "flipped byte":
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2] ^= 0x10
        data.write_bytes(bytes(raw))
    elif kind == "missing shard":
        data.unlink()
    return prefix


BAD = {
    "truncated index": ("model.ckpt", "model.ckpt"),
    "wrong magic": ("model.ckpt", "not a checkpoint format"),
    "flipped byte": ("model.ckpt.data-00000-of-00001", "CRC32C"),
    "missing shard": ("model.ckpt.data-00000-of-00001", "missing"),
}


@pytest.mark.parametrize("kind", BAD)
def test_bad_checkpoints_fail_in_one_line_with_no_output(official_checkpoint, tmp_path, kind):
    prefix = _corrupt(kind, official_checkpoint())
    out = tmp_path / "out.safetensors"
    result = cli("convert", prefix, "--out", out)
    names, reason = BAD[kind]
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert names in result.stderr and reason.lower() in result.stderr.lower()
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_unknown_dtype(official_checkpoint, tmp_path):
    name = "RGB/inception_i3d/Mixed_4d/Branch_1/Conv3d_0b_3x3/conv_3d/w"
    prefix = _retype(official_checkpoint(), name, 99)
    result = cli("convert", prefix, "--out", tmp_path / "out.safetensors")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"{prefix}: tensor '{name}': unknown dtype 99 is not supported" in result.stderr
    assert not (tmp_path / "out.safetensors").exists()


@pytest.mark.parametrize("kind", ["non-checkpoint file", "malicious pickle", "no such file"])
def test_other_bad_sources(tmp_path, kind):
    if kind == "non-checkpoint file":
        source = tmp_path / "picture.png"
        source.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    elif kind == "malicious pickle":
        source = tmp_path / "evil.ckpt"
        source.write_bytes(
            b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x05touch\x94\x85\x94R\x94."
        )
    else:
        source = tmp_path / "nothing.ckpt"
    out = tmp_path / "out.safetensors"
    result = cli("convert", source, "--out", out)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert str(source.name) in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_program_name_follows_how_it_was_started(monkeypatch):
    """`i3d-converter --version` names the console script; `python -m converter` names itself."""
    from converter.cli import build_parser

    monkeypatch.setattr(sys, "argv", ["/venv/bin/i3d-converter"])
    assert build_parser("convert").prog == "i3d-converter"
    monkeypatch.setattr(sys, "argv", ["/repo/converter/__main__.py"])
    assert build_parser("convert").prog == "python -m converter"


def test_predict_takes_classify_s_topk_spelling():
    from converter.cli import build_parser

    args = build_parser("predict").parse_args(["predict", "--weights", "w.safetensors", "--topk", "3", "clip"])
    assert args.top == 3


def test_keras_without_h5py_is_one_line(tmp_path, monkeypatch):
    """Keras files need the `keras` extra: without h5py, reading or writing says so in one line."""
    import importlib.util

    from converter.errors import ConversionError
    from converter.readers import keras_h5

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "h5py" else real(name, *a))
    with pytest.raises(ConversionError, match=r"Keras HDF5 needs h5py: pip install 'i3d-converter\[keras\]'"):
        keras_h5._load(tmp_path / "w.h5")
