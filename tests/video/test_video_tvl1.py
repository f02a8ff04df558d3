"""The PyTorch TV-L1 against OpenCV's: each building block on its own, then whole flows judged against
OpenCV's own noise floor (see ``flow_pairs``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

cv2 = pytest.importorskip("cv2")

from converter.video import tvl1  # noqa: E402
from tests.video import flow_pairs  # noqa: E402

PARAMS = tvl1.TVL1Params.like_opencv(cv2.__version__)


@pytest.fixture(autouse=True)
def one_thread():
    """Small images: intra-op threads only add synchronisation (severe on a loaded machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def grey(height: int, width: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((height, width)) * 255).astype(np.float32)


# ---------------------------------------------------------------- building blocks


@pytest.mark.parametrize("size", [(64, 64), (67, 93), (256, 340), (21, 300), (40, 17)])
def test_pyramid_sizes_are_opencvs(size):
    image, sizes = np.zeros(size, np.float32), [size]
    for _ in range(4):  # OpenCV's loop: resize by 0.8, stop before a level under 16 px
        image = cv2.resize(image, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_LINEAR)
        if min(image.shape) < 16:
            break
        sizes.append(image.shape)
    assert tvl1.level_sizes(*size) == sizes


@pytest.mark.parametrize("size", [(67, 93), (20, 20), (256, 340)])
def test_pyramid_resize_matches_cv2(size):
    image = grey(*size)
    expected = cv2.resize(image, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_LINEAR)
    ours = tvl1.resize_linear(torch.from_numpy(image), expected.shape, (0.8, 0.8)).numpy()
    assert np.abs(ours - expected).max() <= 1e-4  # grey levels (0..255)


@pytest.mark.parametrize(("small", "large"), [((54, 74), (67, 93)), ((16, 16), (20, 20)), ((205, 272), (256, 340))])
def test_flow_upsampling_matches_cv2(small, large):
    flow = grey(*small) / 10
    expected = cv2.resize(flow, large[::-1], interpolation=cv2.INTER_LINEAR)
    ours = tvl1.resize_linear(torch.from_numpy(flow), large).numpy()
    assert np.abs(ours - expected).max() <= 1e-5


def test_centred_gradient_is_opencvs():
    # OpenCV's centeredGradient is the [-0.5, 0, 0.5] filter with replicated borders: halved one-sided
    # differences on the edges.
    image = grey(23, 31)
    dx, dy = tvl1.centered_gradient(torch.from_numpy(image))
    kernel = np.array([[-0.5, 0, 0.5]], np.float32)
    expected_dx = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REPLICATE)
    expected_dy = cv2.filter2D(image, -1, kernel.T, borderType=cv2.BORDER_REPLICATE)
    assert np.abs(dx.numpy() - expected_dx).max() <= 1e-4
    assert np.abs(dy.numpy() - expected_dy).max() <= 1e-4
    assert dx[0, 0] == 0.5 * (image[0, 1] - image[0, 0])


def test_forward_gradient_and_divergence_are_opencvs():
    u = grey(19, 27) / 50
    fx, fy = tvl1.forward_gradient(torch.from_numpy(u))
    # forward: u[x+1] - u[x], zero in the last column / row (replicated border)
    forward = np.array([[-1, 1]], np.float32)
    expected = cv2.filter2D(u, -1, forward, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    np.testing.assert_allclose(fx.numpy(), expected, atol=1e-6)
    expected = cv2.filter2D(u, -1, forward.T, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    np.testing.assert_allclose(fy.numpy(), expected, atol=1e-6)
    assert not fx[:, -1].any() and not fy[-1].any()
    # divergence: v[x] - v[x-1] with v[-1] = 0 (zero border), summed over both components
    v1, v2 = grey(19, 27, 1) / 50, grey(19, 27, 2) / 50
    div = tvl1.divergence(torch.from_numpy(v1), torch.from_numpy(v2)).numpy()
    zero = cv2.BORDER_CONSTANT
    expected = cv2.filter2D(v1, -1, forward, anchor=(1, 0), borderType=zero) + cv2.filter2D(
        v2, -1, forward.T, anchor=(0, 1), borderType=zero
    )
    np.testing.assert_allclose(div, expected, atol=1e-5)


def _maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[1:]
    return (np.arange(w)[None] + flow[0]).astype(np.float32), (np.arange(h)[:, None] + flow[1]).astype(np.float32)


@pytest.mark.parametrize("scale", [0.4, 3.0, 12.0])  # sub-pixel, typical, and mostly outside the image
def test_bicubic_warp_matches_cv2_remap(scale):
    image = grey(29, 37)
    flow = (np.random.default_rng(1).standard_normal((2, 29, 37)) * scale).astype(np.float32)
    expected = cv2.remap(image, *_maps(flow), cv2.INTER_CUBIC)  # BORDER_CONSTANT 0 by default
    ours = tvl1.warp_cubic(torch.from_numpy(image)[None, None], torch.from_numpy(flow)[None], PARAMS.remap_bits)
    assert np.abs(ours[0, 0].numpy() - expected).max() <= 1e-3  # grey levels: 4e-6 of the range


def test_opencv4_warp_rounds_coordinates_to_a_32nd_pixel():
    # OpenCV 4's remap rounds x + u to 1/32 px (half to even) and weighs by its float table; on maps
    # already on that grid both OpenCV generations agree, so any cv2 checks the rounding and the table.
    image = grey(29, 37)
    flow = (np.random.default_rng(2).standard_normal((2, 29, 37)) * 2).astype(np.float32)
    flow[:, :3, :3] = 1 / 64  # exactly half a step: rounds to 0 (even), not 1/32
    map_x, map_y = (np.round(m * 32) / 32 for m in _maps(flow))
    expected = cv2.remap(image, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_CUBIC)
    ours = tvl1.warp_cubic(torch.from_numpy(image)[None, None], torch.from_numpy(flow)[None], 5)[0, 0].numpy()
    assert np.abs(ours - expected).max() <= 1e-3
    assert np.array_equal(ours[:3, :3], image[:3, :3])  # rounded to a whole pixel: the pixel itself
    unrounded = tvl1.warp_cubic(torch.from_numpy(image)[None, None], torch.from_numpy(flow)[None], None)
    assert np.abs(unrounded[0, 0].numpy() - expected).max() > 0.01  # the rounding is visible


@pytest.mark.parametrize("median", [tvl1.median5, tvl1.median5_network])
@pytest.mark.parametrize("size", [(5, 5), (7, 9), (40, 53)])
def test_median_is_exactly_cv2_median_blur(size, median):
    image = grey(*size)
    image[: size[0] // 2] = np.round(image[: size[0] // 2] / 64)  # ties as well
    ours = median(torch.from_numpy(image)[None, None])[0, 0].numpy()
    assert np.array_equal(ours, cv2.medianBlur(image, 5))


def test_median_on_cpu_is_bit_identical_to_the_network():
    """The CPU path (OpenCV, image by image) and the network (any device) give the same values on a
    [B, 2, H, W] flow batch, non-contiguous, with ties, negative zeros and tiny values; the same bits
    except the sign of some zeros (min/max of +0 and -0 may return either; the CPU path's are OpenCV's)."""
    rng = np.random.default_rng(4)
    flow = (rng.standard_normal((3, 2, 37, 61)) * 3).astype(np.float32)
    flow[0] = np.round(flow[0])  # ties
    flow[1, 0, :5] = -0.0
    flow[2, 1, :, :7] = rng.standard_normal((37, 7)).astype(np.float32) * 1e-38
    x = torch.from_numpy(flow).transpose(-1, -2)  # non-contiguous
    fast, network = tvl1.median5(x), tvl1.median5_network(x)
    assert fast.shape == network.shape == x.shape
    assert torch.equal(fast, network)
    differ = fast.view(torch.int32) != network.contiguous().view(torch.int32)
    assert bool((fast[differ] == 0).all())


# ---------------------------------------------------------------- whole flows


def _ours(a: np.ndarray, b: np.ndarray, device: str = "cpu") -> np.ndarray:
    flow = tvl1.tvl1(torch.from_numpy(a)[None].to(device), torch.from_numpy(b)[None].to(device), PARAMS)
    return flow[0].cpu().numpy()


@pytest.mark.parametrize(
    ("case", "size"),
    [
        ("global shift", (96, 128)),
        ("smooth field", (96, 128)),
        ("moving object", (96, 128)),
        ("motion too large", (64, 80)),
    ],
)
def test_flow_agrees_with_opencv_within_its_noise_floor(case, size):
    a, b = flow_pairs.CASES[case](*size)
    reference = flow_pairs.opencv_flow(a, b)
    floor = flow_pairs.noise_floor(a, b, reference)
    measured = flow_pairs.agreement(_ours(a, b), reference)
    assert flow_pairs.passes(measured, floor), (case, measured, floor)


def test_flow_of_a_shift_is_the_shift():
    a, b = flow_pairs.global_shift(64, 80, dx=2, dy=-1)
    flow = _ours(a, b)[8:-8, 8:-8]
    np.testing.assert_allclose(flow.reshape(-1, 2).mean(0), [2, -1], atol=0.02)


def test_the_agreement_rule_catches_a_wrong_flow():
    # The measure is not vacuous: OpenCV's flow with one parameter changed (3 warps) fails it.
    a, b = flow_pairs.smooth_field(96, 128)
    reference = flow_pairs.opencv_flow(a, b)
    floor = flow_pairs.noise_floor(a, b, reference)
    other = tvl1.tvl1(torch.from_numpy(a)[None], torch.from_numpy(b)[None], tvl1.TVL1Params(warps=1))[0].numpy()
    assert not flow_pairs.passes(flow_pairs.agreement(other, reference), floor)


def test_cricket_clip_agrees_with_opencv(kinetics_dir):
    from PIL import Image, ImageSequence

    with Image.open(kinetics_dir / "v_CricketShot_g04_c01_rgb.gif") as gif:
        frames = [cv2.cvtColor(np.asarray(f.convert("RGB")), cv2.COLOR_RGB2GRAY) for f in ImageSequence.Iterator(gif)]
    a, b = frames[40], frames[41]
    reference = flow_pairs.opencv_flow(a, b)
    floor = flow_pairs.noise_floor(a, b, reference)
    measured = flow_pairs.agreement(_ours(a, b), reference)
    assert flow_pairs.passes(measured, floor), (measured, floor)


def test_a_batch_gives_each_pair_its_own_flow():
    # Pairs converge after different numbers of iterations (a still pair at once): each is frozen when
    # it converges, so the batch result equals the pairs one by one, bit for bit.
    pairs = [
        flow_pairs.global_shift(48, 64, 2, 1),
        flow_pairs.moving_object(48, 64),
        flow_pairs.global_shift(48, 64, 0, 0),
    ]
    a = torch.from_numpy(np.stack([p[0] for p in pairs]))
    b = torch.from_numpy(np.stack([p[1] for p in pairs]))
    batch = tvl1.tvl1(a, b, PARAMS)
    assert batch.shape == (3, 48, 64, 2) and batch.dtype == torch.float32
    for i in range(3):
        assert torch.equal(batch[i], tvl1.tvl1(a[i : i + 1], b[i : i + 1], PARAMS)[0])
    assert not batch[2].any()  # identical frames: no motion at all


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_flow_agrees_with_opencv():
    a, b = flow_pairs.moving_object(96, 128)
    reference = flow_pairs.opencv_flow(a, b)
    floor = flow_pairs.noise_floor(a, b, reference)
    assert flow_pairs.passes(flow_pairs.agreement(_ours(a, b, "cuda"), reference), floor)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"same shape, got \(1, 8, 8\) and \(1, 8, 9\)"):
        tvl1.tvl1(torch.zeros(1, 8, 8), torch.zeros(1, 8, 9))
    with pytest.raises(ValueError, match="at least 3 x 3 pixels, got 2 x 8"):
        tvl1.tvl1(torch.zeros(1, 2, 8), torch.zeros(1, 2, 8))
    with pytest.raises(ValueError, match="finite grey levels"):
        tvl1.tvl1(torch.full((1, 8, 8), float("nan")), torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="scale_step must be in"):
        tvl1.TVL1Params(scale_step=1.0)
    with pytest.raises(ValueError, match="median_filtering must be 5"):
        tvl1.TVL1Params(median_filtering=3)


def test_numpy_frames_are_accepted():
    a, b = flow_pairs.global_shift(32, 40, dx=1, dy=0)
    flow = tvl1.tvl1(a[None], b[None], PARAMS)
    assert torch.equal(flow, tvl1.tvl1(torch.from_numpy(a)[None], torch.from_numpy(b)[None], PARAMS))
