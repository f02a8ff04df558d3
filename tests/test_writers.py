"""Weights files: readable by safetensors / torch.load(weights_only=True), atomic, never silently overwritten."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from safetensors import safe_open

from converter.errors import ConversionError
from converter.writers import write_weights

TENSORS = {
    "b.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
    "a.bias": np.array([1.5, -2.0], dtype=np.float64),
    "c.count": np.array(7, dtype=np.int64),
}


def test_safetensors_round_trip_and_checksum(tmp_path):
    out = tmp_path / "w.safetensors"
    written = write_weights(out, TENSORS, {"architecture": "i3d", "config": "{}"})
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
