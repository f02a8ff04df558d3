"""The FVD protocols: which choices a number depends on, so that it is comparable with a paper's.

``tf`` is the original (google-research ``frechet_video_distance``, Unterthiner et al. 2018, with
TF-GAN's ``frechet_classifier_distance_from_activations``). ``stylegan-v`` reproduces StyleGAN-V's
``src/metrics/frechet_video_distance.py`` + ``metric_utils.FeatureStats`` (Skorokhodov et al. 2022),
which many video-generation papers report; ``fvd2048_16f``, ``fvd2048_128f`` and
``fvd2048_128f_subsample8f`` are the metrics StyleGAN-V's ``src/metrics/metric_main.py`` registers under
those names (the lines are quoted in ``NAMED_SOURCE``). All use the same exact detector here (TF's resize,
DeepMind's weights); they differ in video and clip sampling and in the statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

from converter.errors import ConversionError


@dataclass(frozen=True)
class Protocol:
    name: str
    covariance_divisor: str  # "n-1": unbiased (TF-GAN), "n": population (StyleGAN-V's FeatureStats)
    square_root: str  # "svd": TF-GAN's Tr√(A Σ₂ A), A = √Σ₁ by SVD; "sqrtm": scipy.linalg.sqrtm(Σ_fake Σ_real)
    clip_start: str  # "first": clips start at frame 0; "random": a seeded random offset per video
    frames: int | None  # default frames per clip (None: every frame the video has)
    max_videos: int | None  # default number of videos per side (None: all)
    description: str
    stride: int = 1  # default: take every stride-th frame (StyleGAN-V's subsample_factor)
    fake_clip_start: str = ""  # the generated side's clip start ("": as clip_start)
    video_sampling: str = "random"  # below max_videos: "random" (seeded subset) or "first" (the first N)
    discard_short_videos: bool = False  # leave out videos shorter than a clip (StyleGAN-V) instead of refusing

    def __post_init__(self) -> None:
        if not self.fake_clip_start:
            object.__setattr__(self, "fake_clip_start", self.clip_start)


# StyleGAN-V's src/metrics/metric_main.py (universome/stylegan-v, commit 1f630af), quoted:
NAMED_SOURCE = {
    "fvd2048_16f": "compute_fvd(opts, max_real=2048, num_gen=2048, num_frames=16)",
    "fvd2048_128f": "compute_fvd(opts, max_real=2048, num_gen=2048, num_frames=128)",
    "fvd2048_128f_subsample8f": "compute_fvd(opts, max_real=2048, num_gen=2048, num_frames=16, subsample_factor=8)",
}


def _stylegan_v(name: str, frames: int, stride: int) -> Protocol:
    """A StyleGAN-V metric: ``compute_fvd`` sets ``load_n_consecutive=num_frames``, ``subsample_factor``,
    ``discard_short_videos=True`` and, for generated videos read as a dataset,
    ``load_n_consecutive_random_offset=False``; ``FeatureStats`` takes the first ``max_items`` videos,
    covariance ``Σxxᵀ/N − μμᵀ``; the distance uses ``scipy.linalg.sqrtm(σ_gen·σ_real)``."""
    return Protocol(
        name,
        covariance_divisor="n",
        square_root="sqrtm",
        clip_start="random",
        fake_clip_start="first",
        frames=frames,
        stride=stride,
        max_videos=2048,
        video_sampling="first",
        discard_short_videos=True,
        description=f"StyleGAN-V's metric_main.py {name}: {NAMED_SOURCE[name]}",
    )


PROTOCOLS = {
    "tf": Protocol(
        "tf",
        covariance_divisor="n-1",
        square_root="svd",
        clip_start="first",
        frames=None,
        max_videos=None,
        description="the original recipe: TF-GAN's distance (unbiased covariances, SVD square roots in float64)",
    ),
    "stylegan-v": Protocol(
        "stylegan-v",
        covariance_divisor="n",
        square_root="sqrtm",
        clip_start="random",
        frames=16,
        max_videos=2048,
        video_sampling="first",
        discard_short_videos=True,
        description="StyleGAN-V's choices: covariance divided by N, scipy.linalg.sqrtm, 16 consecutive "
        "frames from a random offset, 2048 videos",
    ),
    "fvd2048_16f": _stylegan_v("fvd2048_16f", 16, 1),
    "fvd2048_128f": _stylegan_v("fvd2048_128f", 128, 1),
    "fvd2048_128f_subsample8f": _stylegan_v("fvd2048_128f_subsample8f", 16, 8),
}


def get_protocol(name: str | Protocol) -> Protocol:
    """The protocol called ``name`` (one of ``PROTOCOLS``); ConversionError for any other."""
    if isinstance(name, Protocol):
        return name
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConversionError(None, f"unknown FVD protocol {name!r}; choose one of {', '.join(PROTOCOLS)}") from None
