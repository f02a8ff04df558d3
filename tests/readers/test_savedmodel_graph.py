"""Names recovered from a TF2 object graph (TrackableObjectGraph), built here byte by byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from converter.errors import ConversionError
from converter.readers.savedmodel import MAX_DEPTH, _object_names
from converter.tfbundle.proto import encode_varint


def _field(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return encode_varint(number << 3 | 2) + encode_varint(len(data)) + data


def _node(children: list[tuple[int, str]] = (), attributes: list[tuple[str, str]] = ()) -> bytes:
    body = b"".join(_field(1, encode_varint(1 << 3) + encode_varint(i) + _field(2, n)) for i, n in children)
    body += b"".join(_field(2, _field(1, name) + _field(3, key)) for name, key in attributes)
    return _field(1, body)


def test_paths_of_child_names_breadth_first():
    graph = b"".join(
        [
            _node([(1, "weights"), (3, "alias")]),  # node 0, the root
            _node([(2, "Conv3d_1a_7x7/conv_3d/w")]),
            _node(attributes=[("VARIABLE_VALUE", "weights/Conv3d_1a_7x7.Sconv_3d.Sw/.ATTRIBUTES/VARIABLE_VALUE")]),
            _node([(2, "again")]),  # a second, longer path to the same variable: the first one wins
        ]
    )
    assert _object_names(Path("g"), graph) == {
        "weights/Conv3d_1a_7x7.Sconv_3d.Sw/.ATTRIBUTES/VARIABLE_VALUE": "weights/Conv3d_1a_7x7/conv_3d/w"
    }


def test_a_deep_chain_is_refused_not_spelled_out():
    depth = MAX_DEPTH + 5
    graph = b"".join(_node([(i + 1, "x" * 100)]) for i in range(depth))
    graph += _node(attributes=[("VARIABLE_VALUE", "deep")])
    with pytest.raises(ConversionError, match=f"deeper than {MAX_DEPTH} objects"):
        _object_names(Path("g"), graph)


def test_a_child_outside_the_graph():
    with pytest.raises(ConversionError, match="node 0 names node 7 of 1") as err:
        _object_names(Path("g.index"), _node([(7, "ghost")]))
    assert "g.index" in str(err.value)


def test_an_empty_object_graph_names_nothing():
    assert _object_names(Path("g"), b"") == {}
