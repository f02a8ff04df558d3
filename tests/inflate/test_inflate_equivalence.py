"""2D == 3D: on a clip of one repeated image, every inflated network gives its 2D network's logits.

Real architectures (all seven), random weights and BN statistics, eval mode, small images.
What holds, per init and time padding (see converter.inflate.layers):
* center init: exact at every frame (zero time padding, the default).
* mean init with replicate time padding: exact at every frame.
* mean init with zero time padding: exact on the frames the stem's time kernel does not reach past the
  clip borders (1 .. T-2 for a time kernel of 3); the border frames differ, so the clip average does.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from converter.inflate.densenet import DenseNet, DenseNet3d
from converter.inflate.resnet import ResNet, ResNet3d

NETWORKS = {
    **{f"resnet{d}": (ResNet, ResNet3d, d) for d in (50, 101, 152)},
    **{f"densenet{v}": (DenseNet, DenseNet3d, v) for v in (121, 161, 169, 201)},
}
FRAMES = 6
TOLERANCE = 1e-5


@pytest.fixture(scope="module", params=sorted(NETWORKS))
def network(request, nontrivial) -> SimpleNamespace:
    cls2d, cls3d, size = NETWORKS[request.param]
    torch.manual_seed(size)
    model2d = nontrivial(cls2d(size, num_classes=17), seed=size)
    image = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits = model2d(image)
    return SimpleNamespace(
        build=lambda **time: cls3d(size, num_classes=17, **time).eval(),
        state=model2d.state_dict(),
        clip=image.unsqueeze(2).expand(-1, -1, FRAMES, -1, -1),
        logits=logits,
    )


def per_frame(network: SimpleNamespace, init: str, **time) -> torch.Tensor:
    model3d = network.build(**time)
    model3d.load_2d(network.state, init)
    with torch.no_grad():
        frames = model3d.time_logits(network.clip)
        torch.testing.assert_close(model3d(network.clip), frames.mean(2), rtol=0, atol=0)
    assert frames.shape == (*network.logits.shape, FRAMES)
    return frames


def test_center_init_is_exact_at_every_frame(network, relative_error) -> None:
    frames = per_frame(network, "center")
    assert relative_error(frames, network.logits.unsqueeze(2).expand_as(frames)) <= TOLERANCE
    assert relative_error(frames.mean(2), network.logits) <= TOLERANCE


def test_mean_init_with_replicate_padding_is_exact_at_every_frame(network, relative_error) -> None:
    frames = per_frame(network, "mean", time_padding_mode="replicate")
    assert relative_error(frames, network.logits.unsqueeze(2).expand_as(frames)) <= TOLERANCE


def test_mean_init_with_zero_padding_is_exact_on_interior_frames(network, relative_error) -> None:
    frames = per_frame(network, "mean")
    interior = frames[:, :, 1:-1]
    assert relative_error(interior, network.logits.unsqueeze(2).expand_as(interior)) <= TOLERANCE
    for border in (0, FRAMES - 1):  # the stated limit is real: the zero-padded frames do differ
        assert relative_error(frames[:, :, border], network.logits) > 100 * TOLERANCE


@pytest.mark.parametrize("name", ["resnet50", "densenet121"])
@pytest.mark.parametrize("init,mode", [("center", "zeros"), ("mean", "replicate")])
def test_i3d_style_3x3x3_blocks_and_time_stride_stay_exact(name, init, mode, nontrivial, relative_error) -> None:
    cls2d, cls3d, size = NETWORKS[name]
    model2d = nontrivial(cls2d(size, num_classes=5))
    model3d = cls3d(size, num_classes=5, time_kernel=5, time_stride=2, block_time_kernel=3, time_padding_mode=mode)
    model3d.load_2d(model2d.state_dict(), init)
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        frames = model3d.eval().time_logits(image.unsqueeze(2).expand(-1, -1, 7, -1, -1))
        want = model2d(image)
    assert frames.shape == (1, 5, 4)
    assert relative_error(frames, want.unsqueeze(2).expand_as(frames)) <= TOLERANCE
