"""TF 'SAME' padding stays right in a traced / exported graph at sizes other than the one it was made at."""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch

from converter.models import tf_same
from converter.models.i3d import InceptionI3d


def trace(fn, *example: torch.Tensor):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return torch.jit.trace(fn, example, check_trace=False)


def test_symbolic_padding_is_tfs_formula() -> None:
    for size, kernel, stride in itertools.product(range(1, 40), range(1, 8), range(1, 4)):
        if kernel >= stride:
            assert tf_same.symbolic_same_padding(size, kernel, stride) == tf_same.same_padding(size, kernel, stride)
    with pytest.raises(ValueError, match="kernel >= stride"):
        tf_same.symbolic_same_padding(5, 1, 2)


@pytest.mark.parametrize(("kernel", "stride"), [((7, 7, 7), (2, 2, 2)), ((1, 3, 3), (1, 2, 2)), ((2, 3, 2), (2, 1, 2))])
def test_traced_conv_and_pool_pad_for_the_size_they_run_at(kernel, stride) -> None:
    """Traced at one (even) size, run at odd, even and tiny sizes: equal to the eager op at each."""
    torch.manual_seed(0)
    weight = torch.randn(4, 2, *kernel)
    conv = trace(lambda x: tf_same.conv3d_same(x, weight, None, stride), torch.randn(1, 2, 8, 10, 12))
    pool = trace(lambda x: tf_same.max_pool3d_same(x, kernel, stride), torch.randn(1, 2, 8, 10, 12))
    for shape in [(1, 2, 9, 11, 13), (2, 2, 5, 6, 7), (1, 2, 2, 3, 1), (1, 2, 1, 1, 1), (1, 2, 16, 17, 15)]:
        x = torch.randn(shape)
        torch.testing.assert_close(conv(x), tf_same.conv3d_same(x, weight, None, stride), msg=str(shape))
        assert torch.equal(pool(x), tf_same.max_pool3d_same(x, kernel, stride)), shape


def test_eager_path_is_unchanged_outside_recording(monkeypatch) -> None:
    """Outside a trace/export, padding still comes from ``same_padding`` (the fast, branchy path)."""
    calls = []
    real = tf_same.same_padding
    monkeypatch.setattr(tf_same, "same_padding", lambda *a: calls.append(a) or real(*a))
    tf_same.max_pool3d_same(torch.randn(1, 1, 5, 6, 7), (3, 3, 3), (2, 2, 2))
    assert len(calls) == 3


def test_model_traced_at_16_frames_is_right_at_17(random_i3d_model: InceptionI3d) -> None:
    """The issue's case: ``torch.jit.trace(model)`` on a 16-frame clip, then run on 17 frames (and odd
    height/width). On the old padding the logits were off by up to 16, silently."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        traced = trace(random_i3d_model, torch.rand(1, 3, 16, 200, 200, generator=generator) * 2 - 1)
        x = torch.rand(1, 3, 17, 201, 199, generator=generator) * 2 - 1
        got, want = traced(x), random_i3d_model(x)
    assert got.shape == want.shape == (1, 400)
    assert (got - want).abs().max().item() <= 1e-4
