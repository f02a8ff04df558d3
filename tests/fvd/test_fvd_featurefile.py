"""Per-video features files: written with the path, clip and weights of each row, accepted wherever videos
or statistics are, giving the same metrics as the videos (no detector needed to read them back)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.fvd import compute, load_features
from tests.fvd.tiny import FrameMeans

ALL = "fvd,kvd,precision,recall"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("features")
    rng = np.random.default_rng(1)
    np.save(folder / "real.npy", rng.integers(0, 256, (12, 9, 8, 8, 3), dtype=np.uint8))
    np.save(folder / "fake.npy", rng.integers(20, 230, (10, 9, 8, 8, 3), dtype=np.uint8))
    options = {"model": FrameMeans(9), "metrics": ALL, "subsets": 4, "subset_size": 6, "bootstrap": 5}
    result = compute(
        folder / "real.npy",
        folder / "fake.npy",
        save_real_features=folder / "real-features.npz",
        save_fake_features=folder / "fake-features.npz",
        save_real=folder / "real-stats.npz",
        **options,
    )
    return folder, result, options


def test_features_file_records_each_video(saved):
    folder, _, _ = saved
    found = load_features(folder / "real-features.npz")
    assert found.features.shape == (12, 9) and found.names == [f"{folder / 'real.npy'}[{i}]" for i in range(12)]
    assert found.offsets == [0] * 12 and (found.frames, found.stride, found.protocol) == (0, 1, "tf")


def test_features_files_give_the_same_metrics(saved):
    folder, result, options = saved
    again = compute(folder / "real-features.npz", folder / "fake-features.npz", **options)
    assert again.metrics == result.metrics and again.intervals == result.intervals
    mixed = compute(folder / "real-stats.npz", folder / "fake-features.npz", model=FrameMeans(9))
    assert mixed.fvd == result.fvd
    with pytest.raises(ConversionError, match="features for protocol 'tf'; this run is 'stylegan-v'"):
        compute(folder / "real-features.npz", folder / "fake-features.npz", protocol="stylegan-v")


def test_command_reads_features_files(saved, capsys):
    """`fvd REAL_FEATURES FAKE_FEATURES --metrics … --json`: no weights are loaded."""
    from converter.cli import main

    folder, result, _ = saved
    args = ["fvd", str(folder / "real-features.npz"), str(folder / "fake-features.npz"), "--metrics", ALL]
    args += ["--subsets", "4", "--subset-size", "6", "--weights", "absent.safetensors", "--json"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["metrics"] == pytest.approx(result.metrics, rel=1e-12)
    assert printed["settings"]["kvd_subsets"] == 4 and printed["videos"]["fake"][0].endswith("fake.npy[0]")
    (folder / "broken.npz").write_bytes((folder / "real-features.npz").read_bytes()[:200])
    assert main(["fvd", str(folder / "broken.npz"), str(folder / "fake-features.npz"), "--json"]) == 2
