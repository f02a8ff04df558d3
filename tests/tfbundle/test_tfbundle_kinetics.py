"""The five official kinetics-i3d index files (no data files shipped) read with ``read_index``."""

from __future__ import annotations

import itertools
from math import prod

import numpy as np
import pytest

from converter.tfbundle import read_index

# checkpoint folder -> (entries, a name every one of them starts with, an entry we know)
OFFICIAL = {
    "rgb_scratch": (
        230,
        "RGB/inception_i3d/",
        ("RGB/inception_i3d/Logits/Conv3d_0c_1x1/conv_3d/w", (1, 1, 1, 1024, 400)),
    ),
    "rgb_imagenet": (
        230,
        "RGB/inception_i3d/",
        ("RGB/inception_i3d/Conv3d_1a_7x7/conv_3d/w", (7, 7, 7, 3, 64)),
    ),
    "flow_scratch": (
        230,
        "Flow/inception_i3d/",
        ("Flow/inception_i3d/Conv3d_1a_7x7/conv_3d/w", (7, 7, 7, 2, 64)),
    ),
    "flow_imagenet": (
        230,
        "Flow/inception_i3d/",
        ("Flow/inception_i3d/Logits/Conv3d_0c_1x1/conv_3d/b", (400,)),
    ),
    "rgb_scratch_kin600": (346, "", ("Logits/Conv3d_0c_1x1/conv_3d/w", (1, 1, 1, 1024, 600))),
}


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_official_index(kinetics_dir, name):
    count, scope, (known, shape) = OFFICIAL[name]
    index = kinetics_dir / "checkpoints" / name / "model.ckpt.index"
    entries = read_index(index)
    assert len(entries) == count
    assert all(key.startswith(scope) for key in entries)
    assert entries[known].shape == shape
    for entry in entries.values():
        assert entry.dtype == np.float32
        assert entry.size == prod(entry.shape) * 4
        assert not entry.partitioned
    assert read_index(index.with_suffix("")) == entries
    spans = sorted((entry.shard_id, entry.offset, entry.size) for entry in entries.values())
    assert all(a[:2] != b[:2] and a[1] + a[2] <= b[1] for a, b in itertools.pairwise(spans) if a[0] == b[0])


def test_kinetics600_carries_momentum_slots(kinetics_dir):
    entries = read_index(kinetics_dir / "checkpoints" / "rgb_scratch_kin600" / "model.ckpt")
    momentum = [key for key in entries if key.endswith("/Momentum")]
    assert momentum
    assert all(entries[key].shape == entries[key.removesuffix("/Momentum")].shape for key in momentum)
