"""Tensor ops: ``inflate`` gives a 2D kernel a time axis whose slices sum back to it, and its inverse
(``Deflate``, a sum over time) undoes it; every op's ``shape`` agrees with what ``apply`` produces."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from converter.ops import Deflate, Inflate, Transpose, apply_ops, apply_shape, inverse, parse_op


def kernel(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_center_puts_the_kernel_in_the_middle_slice_and_zeros_elsewhere() -> None:
    w = kernel((3, 3, 2, 4))  # HWIO
    out = Inflate(axis=0, time=5, init="center").apply(w)
    assert out.shape == (5, 3, 3, 2, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out[2], w)
    assert not out[[0, 1, 3, 4]].any()


def test_mean_spreads_kernel_over_time_divided_by_time() -> None:
    w = kernel((4, 2, 7, 7))  # OIHW
    out = Inflate(axis=2, time=7, init="mean").apply(w)
    assert out.shape == (4, 2, 7, 7, 7) and out.dtype == np.float32
    for t in range(7):
        np.testing.assert_array_equal(out[:, :, t], w / np.float32(7))
    np.testing.assert_allclose(out.sum(axis=2), w, rtol=1e-6, atol=1e-7)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple),
    time=st.integers(1, 9),
    init=st.sampled_from(["center", "mean"]),
    data=st.data(),
)
def test_deflate_undoes_inflate(shape: tuple[int, ...], time: int, init: str, data: st.DataObject) -> None:
    axis = data.draw(st.integers(0, len(shape)))
    op = Inflate(axis, time, init)
    w = kernel(shape, seed=time)
    inflated = op.apply(w)
    assert inflated.shape == op.shape(w.shape)
    back = apply_ops(inverse([op]), inflated)
    assert back.shape == w.shape and back.dtype == w.dtype
    if init == "center" or time == 1:
        np.testing.assert_array_equal(back, w)
    else:  # time copies of fl(w / time) summed: a few ulp
        np.testing.assert_allclose(back, w, rtol=1e-6 * time, atol=1e-7 * time)


def test_deflate_sums_any_3d_kernel_over_time() -> None:
    """What a 3D kernel does to a clip of one repeated image, away from the borders."""
    w = kernel((2, 3, 5, 3, 3))
    np.testing.assert_array_equal(Deflate(2, 5, "mean").apply(w), w.sum(axis=2, dtype=np.float32))


def test_inverses_round_trip_as_ops() -> None:
    op = Inflate(0, 3, "center")
    assert op.inverse() == Deflate(0, 3, "center") and op.inverse().inverse() == op


def test_inflate_then_transpose_is_a_tf_kernel_into_pytorch_layout() -> None:
    w = kernel((7, 7, 3, 64))  # slim's HWIO stem
    ops = [Inflate(0, 7, "mean"), Transpose((4, 3, 0, 1, 2))]
    assert apply_shape(ops, w.shape) == (64, 3, 7, 7, 7) == apply_ops(ops, w).shape
    np.testing.assert_allclose(apply_ops(inverse(ops), apply_ops(ops, w)), w, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "op,shape,message",
    [
        (Inflate(3, 3, "mean"), (2, 2), "inflate at axis 3 needs rank >= 3"),
        (Deflate(1, 3, "mean"), (2, 4, 5), "deflate needs 3 slices at axis 1, got shape [2, 4, 5]"),
        (Deflate(2, 1, "mean"), (2, 4), "deflate needs 1 slices at axis 2"),
    ],
)
def test_shape_errors_say_what_was_expected(op, shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        op.shape(shape)


def test_inflate_refuses_integer_weights() -> None:
    with pytest.raises(ValueError, match="floating-point weights, got int32"):
        Inflate(0, 3, "mean").apply(np.ones((2, 2), np.int32))


def test_parse_inflate() -> None:
    assert parse_op({"op": "inflate", "axis": 2, "time": 7, "init": "center"}, "rule 1") == Inflate(2, 7, "center")


@pytest.mark.parametrize(
    "spec,message",
    [
        ({"axis": 0, "time": 3}, "'init'"),
        ({"axis": 0, "time": 3, "init": "zeros"}, "init 'zeros' is not one of"),
        ({"axis": -1, "time": 3, "init": "mean"}, "axis must be an integer >= 0"),
        ({"axis": 0, "time": 0, "init": "mean"}, "time one >= 1"),
        ({"axis": 0, "time": True, "init": "mean"}, "time one >= 1"),
        ({"axis": 0.5, "time": 3, "init": "mean"}, "axis must be an integer"),
    ],
)
def test_bad_inflate_specs_name_the_rule(spec: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"^rule 4: bad inflate op .*{message}"):
        parse_op({"op": "inflate", **spec}, "rule 4")


def test_unknown_op_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown op 'deflate' \(known: transpose, reshape, inflate\)"):
        parse_op({"op": "deflate"}, "rule 1")
