"""The engine accounts for every key: the five official layouts fit exactly, and every kind of
problem (unmatched, missing, mismatched, ambiguous scope) is reported with both names and shapes."""

from __future__ import annotations

import numpy as np
import pytest

from converter.engine import plan, select_table
from converter.errors import ConversionError
from converter.mapping import load_table, load_tables
from converter.models.i3d_spec import parameter_shapes
from converter.readers import open_source
from converter.tfbundle import read_index

OFFICIAL = {
    "rgb_imagenet": ("RGB/inception_i3d/", 400, 3),
    "rgb_scratch": ("RGB/inception_i3d/", 400, 3),
    "flow_imagenet": ("Flow/inception_i3d/", 400, 2),
    "flow_scratch": ("Flow/inception_i3d/", 400, 2),
    "rgb_scratch_kin600": ("", 600, 3),
}


@pytest.mark.parametrize("name", OFFICIAL)
def test_official_index_is_fully_covered(kinetics_dir, name):
    """Every tensor of the real index is mapped or deliberately ignored; every parameter is filled."""
    index = kinetics_dir / "checkpoints" / name / "model.ckpt.index"
    source = open_source(index)
    result = plan(source, load_table("deepmind"))
    scope, classes, channels = OFFICIAL[name]
    report = result.report
    assert (report.unmatched, report.missing, report.mismatched) == ([], [], [])
    assert report.prefix == scope
    assert result.config == {"num_classes": classes, "in_channels": channels}
    assert len(report.matched) == len(parameter_shapes(classes, channels))
    assert all(k.endswith("/Momentum") or k == "global_step" for k in report.ignored)
    entries = read_index(index)
    assert {entries[src].dtype.name for src, _ in report.matched} == {"float32"}
    assert select_table(source, load_tables()).table.name == "deepmind"


def test_problems_are_reported_with_names_and_shapes(official_checkpoint, tmp_path):
    prefix = official_checkpoint(extra={"RGB/inception_i3d/Mystery/w": np.zeros(3, np.float32)})
    # rewrite one tensor with a wrong shape and drop another by re-writing without it
    from converter.tfbundle import BundleReader, write_bundle

    with BundleReader(prefix) as bundle:
        tensors = {k: bundle.read(k) for k in bundle.keys()}
    tensors["RGB/inception_i3d/Conv3d_2b_1x1/conv_3d/w"] = np.zeros((1, 1, 1, 64, 65), np.float32)
    del tensors["RGB/inception_i3d/Mixed_4c/Branch_0/Conv3d_0a_1x1/batch_norm/beta"]
    (tmp_path / "bad").mkdir()
    write_bundle(tmp_path / "bad" / "model.ckpt", tensors)
    report = plan(open_source(tmp_path / "bad" / "model.ckpt"), load_table("deepmind")).report
    assert report.unmatched == ["RGB/inception_i3d/Mystery/w"]
    assert report.missing == ["Mixed_4c.Branch_0.Conv3d_0a_1x1.bn.bias"]
    assert report.mismatched == [
        ("RGB/inception_i3d/Conv3d_2b_1x1/conv_3d/w", (65, 64, 1, 1, 1), "Conv3d_2b_1x1.conv.weight", (64, 64, 1, 1, 1))
    ]
    assert report.problems() == ["unmatched", "missing", "mismatched"]
    assert report.problems(allow=["unmatched", "missing"]) == ["mismatched"]
    text = "\n".join(report.details())
    assert "Conv3d_2b_1x1/conv_3d/w [65, 64, 1, 1, 1] -> Conv3d_2b_1x1.conv.weight expects [64, 64, 1, 1, 1]" in text


def test_allowed_problems_still_select_the_one_table_that_fits(official_checkpoint, tmp_path):
    """``convert SRC --allow unmatched`` without ``--mapping``: the table is still chosen, the extra key reported."""
    from converter.conversion import convert

    prefix = official_checkpoint(extra={"RGB/inception_i3d/Mystery/w": np.zeros(3, np.float32)})
    with pytest.raises(ConversionError, match="no mapping accounts for every key"):
        convert(str(prefix), tmp_path / "strict.safetensors")
    result = convert(str(prefix), tmp_path / "relaxed.safetensors", allow=["unmatched"])
    assert result.plan.table.name == "deepmind" and result.plan.report.unmatched == ["RGB/inception_i3d/Mystery/w"]
    assert not (tmp_path / "strict.safetensors").exists() and (tmp_path / "relaxed.safetensors").is_file()


def test_two_streams_in_one_checkpoint_is_ambiguous(random_state, tmp_path):
    from converter.engine import export
    from converter.tfbundle import write_bundle

    table = load_table("deepmind")
    both = {
        **export(random_state(), table, prefix="RGB/inception_i3d/"),
        **export(random_state(in_channels=3), table, prefix="Flow/inception_i3d/"),
    }
    (tmp_path / "joint").mkdir()
    write_bundle(tmp_path / "joint" / "model.ckpt", both)
    with pytest.raises(ConversionError, match="several scopes"):
        plan(open_source(tmp_path / "joint" / "model.ckpt"), table)
    chosen = plan(open_source(tmp_path / "joint" / "model.ckpt"), table, prefix="Flow/inception_i3d/")
    assert chosen.report.missing == [] and len(chosen.report.unmatched) == 230
