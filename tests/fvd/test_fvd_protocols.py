"""The named protocols against StyleGAN-V's ``src/metrics/metric_main.py`` (universome/stylegan-v, commit
1f630af), whose lines are::

    @register_metric
    def fvd2048_16f(opts):
        opts.dataset_kwargs.update(max_size=None, xflip=False)
        fvd = frechet_video_distance.compute_fvd(opts, max_real=2048, num_gen=2048, num_frames=16)
        return dict(fvd2048_16f=fvd)

    @register_metric
    def fvd2048_128f(opts):
        opts.dataset_kwargs.update(max_size=None, xflip=False)
        fvd = frechet_video_distance.compute_fvd(opts, max_real=2048, num_gen=2048, num_frames=128)
        return dict(fvd2048_128f=fvd)

    @register_metric
    def fvd2048_128f_subsample8f(opts):
        \"\"\"Similar to `fvd2048_128f`, but we sample each 8-th frame\"\"\"
        opts.dataset_kwargs.update(max_size=None, xflip=False)
        fvd = frechet_video_distance.compute_fvd(opts, max_real=2048, num_gen=2048, num_frames=16, subsample_factor=8)
        return dict(fvd2048_128f_subsample8f=fvd)

and ``compute_fvd`` (``src/metrics/frechet_video_distance.py``) sets ``load_n_consecutive = num_frames``,
``subsample_factor``, ``discard_short_videos = True``, for generated videos read as a dataset
``load_n_consecutive_random_offset = False``, takes ``FeatureStats.get_mean_cov()`` (covariance / N) and
``scipy.linalg.sqrtm(np.dot(sigma_gen, sigma_real))``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.fvd.protocols import NAMED_SOURCE, PROTOCOLS
from converter.fvd.sources import VideoSource
from tests.fvd.tiny import FrameMeans


def _quoted() -> dict[str, dict[str, int]]:
    calls = re.findall(r"def (fvd\w+)\(opts\):.*?compute_fvd\(opts, ([^)]*)\)", __doc__, re.S)
    return {name: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", args)} for name, args in calls}


def test_named_protocols_are_stylegan_v_settings():
    quoted = _quoted()
    assert sorted(quoted) == sorted(NAMED_SOURCE) == ["fvd2048_128f", "fvd2048_128f_subsample8f", "fvd2048_16f"]
    for name, args in quoted.items():
        p = PROTOCOLS[name]
        assert p.max_videos == args["max_real"] == args["num_gen"] == 2048
        assert (p.frames, p.stride) == (args["num_frames"], args.get("subsample_factor", 1))
        assert (p.covariance_divisor, p.square_root) == ("n", "sqrtm")
        assert (p.clip_start, p.fake_clip_start, p.video_sampling, p.discard_short_videos) == (
            "random",
            "first",
            "first",
            True,
        )
        assert f"compute_fvd(opts, {', '.join(f'{k}={v}' for k, v in args.items())})" == NAMED_SOURCE[name]


def test_fvd2048_16f_clips_and_statistics(tmp_path):
    """Real clips from a seeded random offset, generated clips from frame 0, short videos left out; the
    statistics file records the protocol and another protocol refuses it."""
    from converter.fvd import compute
    from converter.fvd.api import side_data

    rng = np.random.default_rng(0)
    videos = rng.integers(0, 256, (6, 30, 8, 8, 3), dtype=np.uint8)
    short = rng.integers(0, 256, (2, 10, 8, 8, 3), dtype=np.uint8)
    model = FrameMeans(16)
    real = side_data(videos, protocol="fvd2048_16f", detector=_detector(model))
    fake = side_data(videos, protocol="fvd2048_16f", detector=_detector(model), fake=True)
    assert any(real.offsets) and not any(fake.offsets) and (real.frames, real.stride) == (16, 1)
    first = np.stack([v[o : o + 16] for v, o in zip(videos, real.offsets, strict=True)])
    assert np.allclose(real.features, model(_pre(first)).numpy(), atol=1e-6)
    mixed = _Listed([*videos[:3], *short, *videos[3:]])
    result = compute(mixed, videos, model=model, protocol="fvd2048_16f", save_real=tmp_path / "real.npz")
    assert (result.n_real, result.skipped_real, result.protocol) == (6, 2, "fvd2048_16f")
    with pytest.raises(ConversionError, match="statistics for protocol 'fvd2048_16f'; this run is 'stylegan-v'"):
        compute(tmp_path / "real.npz", videos, model=model, protocol="stylegan-v")
    with pytest.raises(ConversionError, match=r"got 0 \(6 shorter than a clip were left out\)"):
        side_data(videos, protocol="fvd2048_128f_subsample8f", detector=_detector(model))  # clips span 121 frames
    long = side_data(np.repeat(videos, 5, axis=1), protocol="fvd2048_128f_subsample8f", detector=_detector(model))
    assert (long.frames, long.stride, long.n) == (16, 8, 6)


def test_named_protocol_refuses_other_clip_settings():
    from converter.fvd import compute

    videos = np.zeros((2, 20, 8, 8, 3), np.uint8)
    with pytest.raises(ConversionError, match="fvd2048_16f is 16 frames every 1; drop --frames/--stride"):
        compute(videos, videos, model=FrameMeans(12), protocol="fvd2048_16f", frames=12)


class _Listed(VideoSource):
    """Videos of different lengths (a folder would hold them)."""

    def __init__(self, videos: list[np.ndarray]) -> None:
        self.items, self.name = videos, "listed"

    def __len__(self) -> int:
        return len(self.items)

    def videos(self, indices):
        for i in indices:
            yield i, self.items[i]


def _detector(model):
    from converter.fvd.api import _Detector

    return _Detector(model, None, None)


def _pre(clips: np.ndarray):
    import torch

    from converter.fvd.features import preprocess

    return preprocess(torch.from_numpy(clips))


def test_help_cites_stylegan_v_lines(capsys):
    from converter.cli import main

    with pytest.raises(SystemExit):
        main(["fvd", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "src/metrics/metric_main.py" in shown
    for name, line in NAMED_SOURCE.items():
        assert f"{name}: {line}" in shown
