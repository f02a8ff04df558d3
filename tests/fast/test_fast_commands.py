"""Every command whose model only infers takes the fast path by default, and ``--backend eager`` does not.

A spy stands in for ``converter.fast.accelerate``: it records the backend the command asks for (resolved
as the real one resolves it) and stops the command there, so no model runs and nothing is exported.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from converter.cli import main

LABELS = ["left", "right"]


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    from converter.finetune.model import save_stream
    from converter.models.i3d import InceptionI3d

    root = tmp_path_factory.mktemp("backend-commands")
    torch.manual_seed(0)
    model = InceptionI3d(num_classes=len(LABELS))
    model.labels = LABELS
    save_stream(root / "tuned.safetensors", model, "rgb", {})
    kinetics = InceptionI3d()
    kinetics.labels = [f"class {i}" for i in range(400)]
    save_stream(root / "i3d.safetensors", kinetics, "rgb", {})
    for label in LABELS:
        clip = root / "data" / "val" / label / f"{label}_00"
        clip.mkdir(parents=True)
        np.save(clip / "rgb.npy", np.zeros((10, 224, 224, 3), np.float32))
    (root / "real").mkdir()
    (root / "fake").mkdir()
    return {"root": root, "i3d": root / "i3d.safetensors", "tuned": root / "tuned.safetensors"}


def commands(f: dict) -> dict[str, list[str]]:
    root, i3d, tuned = f["root"], str(f["i3d"]), str(f["tuned"])
    video = str(root / "video.gif")
    cpu = ["--device", "cpu"]
    return {
        "classify": ["classify", video, "--weights", i3d, *cpu],
        "features": ["features", video, "--out", str(root / "out"), "--weights", i3d, *cpu],
        "predict": ["predict", video, "--weights", tuned, *cpu],
        "evaluate": ["evaluate", "--data", str(root / "data"), "--weights", tuned, "--workers", "0", *cpu],
        "fvd": ["fvd", str(root / "real"), str(root / "fake"), "--weights", i3d, *cpu],
        "visualize activations": ["visualize", "activations", video, "--out", str(root / "vis"), "--weights", i3d],
    }


@pytest.mark.parametrize("command", ["classify", "features", "predict", "evaluate", "fvd", "visualize activations"])
@pytest.mark.parametrize(("flag", "expected"), [([], "fast"), (["--backend", "eager"], "eager")])
def test_backend_by_default_and_on_request(files, monkeypatch, command, flag, expected) -> None:
    import converter.fast
    from converter.fast import default_backend

    asked: list[str] = []

    def spy(model, backend=None, **kwargs):
        asked.append(backend or default_backend())
        raise Stop

    monkeypatch.delenv("I3D_CONVERTER_BACKEND", raising=False)  # the suite's default is eager; a user's is fast
    monkeypatch.setattr(converter.fast, "accelerate", spy)
    with pytest.raises(Stop):
        main([*commands(files)[command], *flag])
    assert asked == [expected]
