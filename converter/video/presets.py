"""Named feature recipes of published feature sets: ``features --preset NAME`` (recorded in each JSON).

A preset fills the settings it names; options given on the command line still win (and are then
recorded as given, with the preset's name). Sources:

- ``i3d-paper``: Carreira & Zisserman, "Quo Vadis, Action Recognition?" (CVPR 2017) and
  github.com/deepmind/kinetics-i3d README: 25 fps, short side 256, centre crop 224, TV-L1 flow
  clipped to ±20 and scaled to [-1, 1], 64-frame snippets; Mixed_5c averaged (1024 per stream).
- ``thumos14``: github.com/happyharrycn/actionformer_release README ("two-stream I3D models pretrained
  on Kinetics using clips of 16 frames at the video frame rate (~30 fps) and a stride of 4 frames"),
  the features of ActionFormer, CMCS and most THUMOS14 localisation work: native fps, 16 frames every
  4, RGB and flow, 2048 per clip.
- ``video-features``: github.com/v-iashin/video_features ``configs/i3d.yml`` defaults: native fps
  (``extraction_fps: null``), ``stack_size: 64``, ``step_size: 64``, both streams (2048 per stack).
  Their flow is PWC-Net or RAFT; ours is TV-L1, so only the RGB half is theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from converter.errors import ConversionError


@dataclass(frozen=True)
class Preset:
    settings: dict = field(default_factory=dict)  # FeatureSettings fields
    stream: str | None = None  # None: the stream(s) the weights give
    source: str = ""


PRESETS = {
    "i3d-paper": Preset(
        {"fps": 25.0, "clip": 64, "stride": 64, "crops": 1, "flow_method": "tvl1", "endpoint": "Mixed_5c"},
        None,
        "Carreira & Zisserman 2017; github.com/deepmind/kinetics-i3d",
    ),
    "thumos14": Preset(
        {"fps": None, "clip": 16, "stride": 4, "crops": 1, "flow_method": "tvl1", "endpoint": "Mixed_5c"},
        "joint",
        "github.com/happyharrycn/actionformer_release README (16 frames, stride 4, video fps)",
    ),
    "video-features": Preset(
        {"fps": None, "clip": 64, "stride": 64, "crops": 1, "flow_method": "tvl1", "endpoint": "Mixed_5c"},
        "joint",
        "github.com/v-iashin/video_features configs/i3d.yml (their flow: PWC-Net/RAFT, ours TV-L1)",
    ),
}


def preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConversionError(None, f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def describe() -> str:
    """One line per preset for --help."""
    lines = []
    for name, p in PRESETS.items():
        s = p.settings
        fps = "native fps" if s["fps"] is None else f"{s['fps']:g} fps"
        stream = "RGB+flow" if p.stream == "joint" else "the weights' streams"
        lines.append(f"{name}: {fps}, {s['clip']} frames every {s['stride']}, {stream} ({p.source})")
    return "; ".join(lines)
