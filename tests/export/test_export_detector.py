"""``export --format fvd-detector``: StyleGAN-V's detector call, TF's FVD features."""

from __future__ import annotations

import pytest
import torch

from converter.cli import main
from converter.fvd.features import i3d_features
from converter.writers import write_weights


@pytest.fixture(scope="module")
def detector(random_i3d_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("detector")
    weights = write_weights(
        folder / "w.safetensors", random_i3d_model.state_dict(), {"architecture": "i3d", "config": "{}"}
    ).path
    out = folder / "i3d_torchscript.pt"
    assert main(["export", str(weights), "--format", "fvd-detector", "--out", str(out)]) == 0
    loaded = torch.jit.load(str(out))
    loaded.path = out  # for the permission check
    return loaded


def test_detector_equals_the_fvd_pipeline_on_uint8_video_of_odd_size(detector, random_i3d_model) -> None:
    videos = torch.randint(0, 256, (2, 11, 97, 131, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    want = torch.from_numpy(i3d_features(videos.numpy(), model=random_i3d_model, protocol="tf", batch_size=2))
    with torch.no_grad():
        got = detector(videos.permute(0, 4, 1, 2, 3), rescale=True, resize=True, return_features=True)
        as_float = detector(videos.permute(0, 4, 1, 2, 3).float(), rescale=True, resize=True, return_features=True)
    assert got.shape == want.shape == (2, 400)
    assert (got - want).abs().max().item() <= 1e-4
    assert torch.equal(got, as_float)


def test_detector_flags_each_do_one_thing(detector, random_i3d_model) -> None:
    x = torch.rand(1, 3, 9, 224, 201, generator=torch.Generator().manual_seed(4)) * 2 - 1
    with torch.no_grad():
        logits = random_i3d_model(x)
        plain = detector(x, return_features=True)  # no rescale, no resize: the model itself
        probabilities = detector(x)  # the defaults: softmax
        rescaled = detector((x + 1) * 127.5, rescale=True, return_features=True)
    assert (plain - logits).abs().max().item() <= 1e-4
    assert (probabilities - logits.softmax(dim=1)).abs().max().item() <= 1e-6
    assert (rescaled - logits).abs().max().item() <= 1e-4
    with pytest.raises(Exception, match=r"expected videos \(B, 3, T, H, W\)"):
        detector(torch.zeros(1, 9, 224, 224, 3))


def test_detector_gives_i3d_limits_and_is_0644(detector) -> None:
    """resize=False with small frames, and clips under 9 frames, stop with I3D's limits (not a pooling
    error); the file is written with the permissions any new file gets (0644 under umask 022)."""
    import os

    with torch.no_grad(), pytest.raises(Exception, match=r"resize=False needs frames of 193\.\.224 pixels a side"):
        detector(torch.zeros(1, 3, 16, 64, 64), return_features=True)
    with torch.no_grad(), pytest.raises(Exception, match=r"I3D's logits need at least 9 frames, got 8"):
        detector(torch.zeros(1, 3, 8, 64, 64), resize=True, return_features=True)
    written = detector.path
    umask = os.umask(0)
    os.umask(umask)
    assert written.stat().st_mode & 0o777 == 0o666 & ~umask


def test_exported_program_variant_has_the_same_call(random_i3d_model, tmp_path) -> None:
    """`export --format fvd-detector-exported-program --shape 1x10x64x81`: torch.export's program, called
    as StyleGAN-V calls the detector, gives the recipe's features; other flags or shapes fail its guards."""
    from converter.export.detector import reference_features

    weights = write_weights(
        tmp_path / "w.safetensors", random_i3d_model.state_dict(), {"architecture": "i3d", "config": "{}"}
    ).path
    out = tmp_path / "i3d.pt2"
    args = ["export", str(weights), "--format", "fvd-detector-exported-program", "--shape", "1x10x64x81"]
    assert main([*args, "--out", str(out)]) == 0
    detector = torch.export.load(str(out)).module()
    videos = torch.randint(0, 256, (1, 3, 10, 64, 81), dtype=torch.uint8, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        got = detector(videos, rescale=True, resize=True, return_features=True)
    assert (got - reference_features(random_i3d_model, videos)).abs().max().item() <= 1e-4
    with pytest.raises(Exception, match="Guard failed"):
        detector(videos, rescale=False, resize=True, return_features=True)
    assert main([*args[:-1], "1x8x64x81", "--out", str(tmp_path / "short.pt2")]) == 2  # I3D's 9-frame limit
