"""The FVD protocols: which choices a number depends on, so that it is comparable with a paper's.

``tf`` is the original (google-research ``frechet_video_distance``, Unterthiner et al. 2018, with
TF-GAN's ``frechet_classifier_distance_from_activations``). ``stylegan-v`` reproduces StyleGAN-V's
``src/metrics/frechet_video_distance.py`` + ``metric_utils.FeatureStats`` (Skorokhodov et al. 2022),
which many video-generation papers report. Both use the same exact detector here (TF's resize,
DeepMind's weights); they differ only in clip sampling and in the statistics.
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
        description="StyleGAN-V's choices: covariance divided by N, scipy.linalg.sqrtm, 16 consecutive "
        "frames from a random offset, 2048 videos",
    ),
}


def get_protocol(name: str | Protocol) -> Protocol:
    """The protocol called ``name`` (``tf`` or ``stylegan-v``); ConversionError for any other."""
    if isinstance(name, Protocol):
        return name
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConversionError(None, f"unknown FVD protocol {name!r}; choose {' or '.join(PROTOCOLS)}") from None
