"""Weights files: readable by safetensors / torch.load(weights_only=True), atomic, never silently overwritten."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from safetensors import safe_open

from converter.errors import ConversionError
from converter.writers import Later, write_weights

TENSORS = {
    "b.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
    "a.bias": np.array([1.5, -2.0], dtype=np.float64),
    "c.count": np.array(7, dtype=np.int64),
}


def test_safetensors_round_trip_and_checksum(tmp_path):
    out = tmp_path / "w.safetensors"
    written = write_weights(out, TENSORS, {"architecture": "i3d", "config": "{}"}, digest=True)
    with safe_open(out, "np") as f:
        assert f.metadata() == {"architecture": "i3d", "config": "{}"}
        assert sorted(f.keys()) == sorted(TENSORS)
        for name, value in TENSORS.items():
            np.testing.assert_array_equal(f.get_tensor(name), value)
            assert f.get_tensor(name).dtype == value.dtype
    assert written.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()


def test_torch_tensors_and_pt_format(tmp_path):
    out = tmp_path / "w.pt"
    write_weights(out, {k: torch.from_numpy(v) for k, v in TENSORS.items()}, {"architecture": "i3d"}, "pt")
    blob = torch.load(out, weights_only=True)
    assert blob["metadata"] == {"architecture": "i3d"}
    for name, value in TENSORS.items():
        np.testing.assert_array_equal(blob["state_dict"][name].numpy(), value)


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "w.safetensors"
    out.write_bytes(b"keep me")
    with pytest.raises(ConversionError, match="exists"):
        write_weights(out, TENSORS, {})
    assert out.read_bytes() == b"keep me"
    write_weights(out, TENSORS, {}, force=True)
    assert out.read_bytes() != b"keep me"


class _Exploding:
    shape, dtype = (2,), np.dtype("float32")

    def load(self):
        raise ConversionError("src", "flipped byte")


@pytest.mark.parametrize("fmt", ["safetensors", "pt"])
def test_failure_mid_write_leaves_nothing(tmp_path, fmt):
    out = tmp_path / f"w.{fmt}"
    with pytest.raises(ConversionError, match="flipped byte"):
        write_weights(out, {"a": TENSORS["a.bias"], "z": _Exploding()}, {}, fmt)
    assert list(tmp_path.iterdir()) == []


def test_checksums_file_is_kept_current(tmp_path):
    sums = tmp_path / "SHA256SUMS"
    sums.write_text("0" * 64 + "  other.safetensors\n" + "1" * 64 + "  w.safetensors\n")
    written = write_weights(tmp_path / "w.safetensors", TENSORS, {})
    lines = sums.read_text().splitlines()
    assert lines == ["0" * 64 + "  other.safetensors", f"{written.sha256}  w.safetensors"]


def test_digest_only_where_a_checksums_file_wants_it(tmp_path):
    assert write_weights(tmp_path / "w.safetensors", TENSORS, {}).sha256 is None
    (tmp_path / "SHA256SUMS").write_text("")
    written = write_weights(tmp_path / "v.safetensors", TENSORS, {})
    assert written.sha256 == hashlib.sha256((tmp_path / "v.safetensors").read_bytes()).hexdigest()


@pytest.mark.parametrize("fmt", ["safetensors", "pt"])
def test_later_metadata_is_filled_in_after_the_data(tmp_path, fmt):
    """A value computed while the data is written (the source's sha256) lands in the header as if known first."""
    calls = []

    def value() -> str:
        calls.append(len(list(tmp_path.glob(".*.tmp"))))  # the data is being written when it is asked for
        return "ab" * 32

    later = write_weights(tmp_path / f"later.{fmt}", TENSORS, {"source_sha256": Later(64, value)}, fmt, digest=True)
    known = write_weights(tmp_path / f"known.{fmt}", TENSORS, {"source_sha256": "ab" * 32}, fmt, digest=True)
    assert calls == [1 if fmt == "safetensors" else 0]  # .pt: asked first, torch.save has no header to patch
    if fmt == "safetensors":
        assert later.sha256 == known.sha256
        with safe_open(later.path, "np") as f:
            assert f.metadata() == {"source_sha256": "ab" * 32}
    else:
        assert torch.load(later.path, weights_only=True)["metadata"] == {"source_sha256": "ab" * 32}


@pytest.mark.parametrize("wrong", ["ab" * 31, "a" * 63 + '"'])
def test_later_value_not_as_reserved_is_refused(tmp_path, wrong):
    out = tmp_path / "w.safetensors"
    with pytest.raises(ConversionError, match="not 64 plain characters"):
        write_weights(out, TENSORS, {"source_sha256": Later(64, lambda: wrong)})
    assert list(tmp_path.iterdir()) == []
