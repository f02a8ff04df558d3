"""Bad input gets one line naming the file and the fix: never a dataclass repr of ours, never ANSI colour codes.

The dataclass names are read from the package's source (no imports), so a new settings class is covered too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

import converter
from converter.cli import main

PACKAGE = Path(converter.__file__).parent


def dataclass_names() -> set[str]:
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                for decorator in node.decorator_list:
                    target = decorator.func if isinstance(decorator, ast.Call) else decorator
                    if (target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")) == "dataclass":
                        names.add(node.name)
    return names


REPR = re.compile(rf"\b({'|'.join(sorted(dataclass_names()))})\(")
ANSI = re.compile(r"\x1b\[")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A short clip folder, a damaged .pt, a garbage checkpoint and an empty folder."""
    from PIL import Image

    root = tmp_path_factory.mktemp("bad")
    clip = root / "clip"
    clip.mkdir()
    for index in range(4):
        Image.fromarray(np.full((40, 48, 3), 30 * index, np.uint8)).save(clip / f"{index}.png")
    (root / "damaged.pt").write_bytes(b"PK\x03\x04" + bytes(40))
    (root / "garbage.ckpt").write_bytes(b"\x00" * 64)
    (root / "empty").mkdir()
    (root / "text.safetensors").write_text("not a safetensors file")
    return root


BAD = [
    ["features", "{root}/clip", "--out", "{root}/f", "--endpoint", "Logits", "--clip", "4", "--weights", "{root}/w"],
    ["features", "{root}/clip", "--out", "{root}/f", "--clip", "0", "--weights", "{root}/damaged.pt"],
    ["preprocess", "{root}/empty", "--fps", "0"],
    ["convert", "{root}/missing.ckpt"],
    ["convert", "{root}/garbage.ckpt", "--out", "{root}/o.safetensors"],
    ["inspect", "{root}/damaged.pt"],
    ["inspect", "{root}/empty"],
    ["classify", "{root}/clip", "--weights", "{root}/damaged.pt"],
    ["classify", "{root}/clip", "--weights", "{root}/text.safetensors"],
    ["classify", "{root}/missing.mp4", "--weights", "{root}/missing.safetensors"],
    ["fvd", "{root}/empty", "{root}/empty"],
    ["export", "{root}/damaged.pt", "--format", "onnx", "--out", "{root}/m.onnx"],
    ["inflate", "resnet50", "--from", "{root}/damaged.pt", "--init", "center", "--out", "{root}/r.safetensors"],
    ["visualize", "{root}/missing.mp4", "--out", "{root}/v", "--weights", "{root}/damaged.pt"],
]


@pytest.mark.parametrize("command", BAD, ids=lambda c: " ".join(c[:2]).replace("{root}/", ""))
def test_bad_input_is_one_plain_line(inputs, capsys, monkeypatch, command):
    monkeypatch.chdir(inputs)
    monkeypatch.setenv("I3D_CONVERTER_HOME", str(inputs / "home"))
    args = [part.format(root=inputs) for part in command]
    try:
        code = main(args)
    except SystemExit as stop:  # argparse's own refusals
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") or "error:" in err.splitlines()[-1], err
    assert not REPR.search(err), err
    assert not ANSI.search(err), err


def test_the_features_short_clip_refusal_names_the_option_not_the_settings(inputs, capsys):
    assert (
        main(["features", str(inputs / "clip"), "--out", str(inputs / "f"), "--endpoint", "Logits", "--clip", "4"]) == 2
    )
    err = capsys.readouterr().err
    assert err == "error: Logits need clips of at least 9 frames (--clip); got clip=4\n"


def test_the_dataclass_names_are_found():
    names = dataclass_names()
    assert {"FeatureSettings", "Settings", "TVL1Params"} <= names or {"FeatureSettings", "Settings"} <= names
