"""FVD end to end against the TF pipeline (TF resize → DeepMind's hub graph → TF-GAN's distance), the
published black/white figure, and the ``fvd`` command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from converter.fvd import compute, frechet_distance, statistics
from tests.fvd.tf_pipeline import frechet_classifier_distance_from_activations

PUBLISHED_BLACK_WHITE = 151.39244  # 8 black vs 8 white videos, 30 frames at 64×64, TF 1.15


@pytest.fixture(scope="module")
def ours(detector, video_sets, tmp_path_factory):
    """Our FVD of real (5 × 9 × 64², a .npy) vs fake (6 × 9 × 72×96, a compressed .npz), batches of 4."""
    folder = tmp_path_factory.mktemp("fvd-e2e")
    np.save(folder / "real.npy", video_sets["real"])
    np.savez_compressed(folder / "fake.npz", videos=video_sets["fake"])
    result = compute(
        folder / "real.npy",
        folder / "fake.npz",
        model=detector,
        batch_size=4,
        save_real=folder / "real-stats.npz",
        save_fake=folder / "fake-stats.npz",
    )
    return result, folder


def test_fvd_equals_the_tf_pipeline(ours, tf_features):
    """N = 5 and 6 (not multiples of 16), 64×64 and 72×96 frames: ≤ 1e-5 relative."""
    result, _ = ours
    theirs = frechet_classifier_distance_from_activations(tf_features["real"], tf_features["fake"])
    print(f"\nFVD ours {result.fvd:.6f}, TF pipeline {theirs:.6f}, relative {abs(result.fvd / theirs - 1):.2e}")
    assert (result.n_real, result.n_fake, result.protocol) == (5, 6, "tf")
    assert theirs > 1 and abs(result.fvd - theirs) <= 1e-5 * theirs


def test_saved_statistics_hold_the_tf_features_mean(ours, tf_features):
    from converter.fvd import load_statistics

    _, folder = ours
    real = load_statistics(folder / "real-stats.npz")
    assert real.n == 5 and np.abs(real.mean - tf_features["real"].mean(axis=0)).max() <= 1e-4


def test_black_white_figure(tf_features, detector, black_white):
    """8 identical black vs 8 identical white videos: our features of one of each, repeated, against the
    hub graph's; both printed with their distance from the published 151.39244 (TF 1.15)."""
    from converter.fvd import i3d_features

    ours = {name: np.repeat(i3d_features(v, model=detector), 8, axis=0) for name, v in black_white.items()}
    theirs = {name: np.repeat(tf_features[name], 8, axis=0) for name in black_white}
    fvd_ours = frechet_distance(statistics(ours["black"]), statistics(ours["white"]))
    fvd_tf = frechet_classifier_distance_from_activations(theirs["black"], theirs["white"])
    print(
        f"\nblack/white FVD: ours {fvd_ours:.5f}, TF 2.21 pipeline {fvd_tf:.5f}, published (TF 1.15) "
        f"{PUBLISHED_BLACK_WHITE}; ours-TF {abs(fvd_ours / fvd_tf - 1):.1e} relative, "
        f"ours-published {abs(fvd_ours / PUBLISHED_BLACK_WHITE - 1):.1e}, "
        f"TF-published {abs(fvd_tf / PUBLISHED_BLACK_WHITE - 1):.1e}"
    )
    assert abs(fvd_ours - fvd_tf) <= 1e-5 * fvd_tf
    assert abs(fvd_tf - PUBLISHED_BLACK_WHITE) <= 1e-3 * PUBLISHED_BLACK_WHITE


@pytest.mark.slow
def test_black_white_figure_eight_videos_each(detector, hub_signature):
    """The published case in full: 8 + 8 videos of 30 frames through both pipelines (≈ 1 minute)."""
    from converter.fvd import fvd
    from tests.fvd.tf_pipeline import embed

    black = np.zeros((8, 30, 64, 64, 3), np.uint8)
    white = np.full((8, 30, 64, 64, 3), 255, np.uint8)
    fvd_ours = fvd(black, white, model=detector)
    fvd_tf = frechet_classifier_distance_from_activations(embed(hub_signature, black), embed(hub_signature, white))
    print(f"\nblack/white 8+8: ours {fvd_ours:.5f}, TF pipeline {fvd_tf:.5f}, published {PUBLISHED_BLACK_WHITE}")
    assert abs(fvd_ours - fvd_tf) <= 1e-5 * fvd_tf


def test_command_on_statistics_files(ours):
    """`fvd REAL_STATS FAKE_STATS --json` gives the same number; another protocol is refused in one line."""
    result, folder = ours
    command = [sys.executable, "-m", "converter", "fvd", str(folder / "real-stats.npz"), str(folder / "fake-stats.npz")]
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, check=True)
    printed = json.loads(done.stdout)
    assert printed["fvd"] == result.fvd and (printed["n_real"], printed["n_fake"]) == (5, 6)
    assert printed["protocol"] == "tf" and printed["frames"] == 0
    refused = subprocess.run([*command, "--protocol", "stylegan-v"], capture_output=True, text=True)
    assert refused.returncode == 2 and "statistics for protocol 'tf'; this run is 'stylegan-v'" in refused.stderr


def test_command_writes_statistics_of_videos(tmp_path, video_sets, fvd_weights, tf_features):
    """`fvd REAL.npy --save-stats PATH` (no FAKE): the statistics of the hub graph's features."""
    from converter.fvd import load_statistics

    np.save(tmp_path / "two.npy", video_sets["real"][:2])
    command = [sys.executable, "-m", "converter", "fvd", str(tmp_path / "two.npy"), "--save-stats"]
    command += [str(tmp_path / "stats.npz"), "--weights", str(fvd_weights), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "wrote" in done.stdout and "2 videos, protocol tf" in done.stdout
    stats = load_statistics(tmp_path / "stats.npz")
    assert np.abs(stats.mean - tf_features["real"][:2].mean(axis=0)).max() <= 1e-4
    missing = subprocess.run(command[:5], capture_output=True, text=True)
    assert missing.returncode == 2 and "give FAKE, or --save-stats/--save-features PATH" in missing.stderr
