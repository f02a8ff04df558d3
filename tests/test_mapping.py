"""Mapping tables: expansion is one-to-one, quirks live in the tables, every rule runs backwards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.mapping import load_table, load_tables
from converter.models.i3d_spec import parameter_shapes
from converter.ops import apply_ops, apply_shape


@pytest.mark.parametrize("table", load_tables(), ids=lambda t: t.name)
def test_every_table_covers_its_architecture_exactly(table):
    assert {p.target for p in table.pairs} == set(parameter_shapes())


def test_deepmind_typo_is_in_the_table_not_the_code():
    pairs = load_table("deepmind").by_target()
    assert pairs["Mixed_5b.Branch_2.Conv3d_0b_3x3.conv.weight"].source == "Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w"
    assert pairs["Mixed_5c.Branch_2.Conv3d_0b_3x3.conv.weight"].source == "Mixed_5c/Branch_2/Conv3d_0b_3x3/conv_3d/w"
    assert "Mixed_5b/Branch_2/Conv3d_0b_3x3/conv_3d/w" not in load_table("deepmind").by_source()


@pytest.mark.parametrize("table", load_tables(), ids=lambda t: t.name)
def test_every_rule_inverts(table):
    rng = np.random.default_rng(0)
    shapes = parameter_shapes()
    for pair in table.pairs:
        target = rng.standard_normal(shapes[pair.target]).astype(np.float32)
        source = apply_ops(pair.inverse_ops, target)
        assert apply_shape(pair.ops, source.shape) == target.shape
        np.testing.assert_array_equal(apply_ops(pair.ops, source), target)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.toml"
    path.write_text('name = "t"\narchitecture = "i3d"\nformats = ["tf-checkpoint"]\n' + text)
    return path


def test_two_rules_producing_one_key_is_a_table_error(tmp_path):
    path = _write(tmp_path, '[[rule]]\nsource = "a"\ntarget = "x"\n[[rule]]\nsource = "a"\ntarget = "y"\n')
    with pytest.raises(ConversionError, match="source key.*more than one rule"):
        load_table(path)


def test_two_sources_for_one_target_is_a_table_error(tmp_path):
    path = _write(tmp_path, '[[rule]]\nsource = "a"\ntarget = "x"\n[[rule]]\nsource = "b"\ntarget = "x"\n')
    with pytest.raises(ConversionError, match="target key.*more than one rule"):
        load_table(path)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('ops = [{ op = "flip" }]', "unknown op 'flip'"),
        ('ops = [{ op = "transpose", perm = [0, 0] }]', "not a permutation"),
        ('ops = [{ op = "reshape", to = [-1, -1], from = [-1] }]', "bad shape"),
    ],
)
def test_bad_ops_name_the_rule(tmp_path, rule, message):
    path = _write(tmp_path, f'[[rule]]\nsource = "a"\ntarget = "x"\n{rule}\n')
    with pytest.raises(ConversionError, match=message) as err:
        load_table(path)
    assert str(path) in str(err.value) and "rule 1" in str(err.value)


def test_unknown_placeholder_and_table_name(tmp_path):
    with pytest.raises(ConversionError, match="unknown placeholder"):
        load_table(_write(tmp_path, '[[rule]]\nsource = "{nope}/w"\ntarget = "{nope}.w"\n'))
    with pytest.raises(ConversionError, match="unknown mapping 'nope'"):
        load_table("nope")


def test_tables_for_one_format_are_those_that_declare_it():
    everything = load_tables()
    for fmt in {fmt for table in everything for fmt in table.formats} | {"no-such-format"}:
        expected = [table.name for table in everything if fmt in table.formats]
        assert [table.name for table in load_tables(fmt)] == expected


@pytest.mark.parametrize(
    ("constant", "message"),
    [
        ('source = "g"\nvalue = 1.0\nshape = [2]\ntarget = "y"', "a 'target' needs 'like'"),
        ('source = "g"\nvalue = 1.0\nlike = "x"\nread = "any"\ntarget = "y"', "a 'target' needs 'like'"),
        ('source = "g"\nvalue = 1.0\nlike = "x"\ntarget = "x"', "constant targets must be distinct and no rule's"),
    ],
)
def test_optional_parameter_constants_are_checked(tmp_path, constant, message):
    """A constant's ``target`` (an optional parameter, e.g. a trained BatchNorm gamma) is validated."""
    path = _write(tmp_path, f'[[rule]]\nsource = "a"\ntarget = "x"\n[[constant]]\n{constant}\n')
    with pytest.raises(ConversionError, match=message):
        load_table(path)


def test_gamma_constants_name_their_optional_parameter():
    for name, source in (("piergiaj", "Mixed_4c.b1b.bn.weight"), ("hassony2", "mixed_4c.branch_1.1.batch3d.weight")):
        constant = load_table(name).by_constant()[source]
        assert (constant.target, constant.like) == ("Mixed_4c.Branch_1.Conv3d_0b_3x3.bn.weight", constant.like)
        assert constant.like == "Mixed_4c.Branch_1.Conv3d_0b_3x3.bn.bias"
