"""TF-Hub modules and SavedModels: the ``variables/variables`` checkpoint inside the directory, read
without TensorFlow.

A TF1 hub module (i3d-kinetics-400/600) saved its graph's variables under their graph names
(``RGB/inception_i3d/…``), which are kept. A TF2 SavedModel saves object-graph keys
(``weights/Conv3d_1a_7x7.Sconv_3d.Sw/.ATTRIBUTES/VARIABLE_VALUE``); their names are recovered by
walking the object graph stored beside them, so a variable reads as the path of attribute names
that reaches it (``weights/Conv3d_1a_7x7/conv_3d/w``). A handle such as
``https://tfhub.dev/deepmind/i3d-kinetics-400/1`` is looked up, offline, in the TF-Hub cache.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections import deque
from pathlib import Path

import numpy as np

from converter.errors import ConversionError
from converter.readers import tf_checkpoint
from converter.tfbundle import OBJECT_GRAPH_KEY, BundleReader, read_index
from converter.tfbundle.proto import WireError, wire_fields

_HANDLE = re.compile(r"^(https?|gs):/+(.+)$")
_VALUE = "VARIABLE_VALUE"
MAX_DEPTH = 64  # objects between the root and a tensor; Keras and tf.Module graphs use a handful


def hub_cache_dir() -> Path:
    """Where tensorflow_hub keeps downloaded modules: ``$TFHUB_CACHE_DIR`` or ``<tmp>/tfhub_modules``."""
    return Path(os.environ.get("TFHUB_CACHE_DIR") or Path(tempfile.gettempdir()) / "tfhub_modules")


def _handle(path: Path) -> str | None:
    """The URL a path was made from (``Path`` folds ``https://`` to ``https:/``), if it was one."""
    match = _HANDLE.match(str(path))
    return f"{match[1]}://{match[2]}" if match else None


def module_dir(path: Path) -> Path:
    """The module directory for a directory or a TF-Hub handle (cached as ``sha1(handle)``, as hub does)."""
    handle = _handle(path)
    if handle is None:
        return path
    cached = hub_cache_dir() / hashlib.sha1(handle.encode()).hexdigest()
    if not cached.is_dir():
        raise ConversionError(
            handle, f"not in the TF-Hub cache ({cached} absent; set TFHUB_CACHE_DIR, or pass the module directory)"
        )
    return cached


def _variables(directory: Path) -> Path:
    return directory / "variables" / "variables"


def sniff(path: Path) -> bool:
    if _handle(path) is not None and not path.exists():
        return True  # a handle: ``open`` finds it in the cache or says where it looked
    return path.is_dir() and tf_checkpoint.sniff(_variables(path))


def _message(buf: bytes) -> dict[int, int | bytes]:
    """The last value of each field (what protobuf keeps for a singular field)."""
    return {number: value for number, _, value, _ in wire_fields(buf)}


def _text(fields: dict[int, int | bytes], number: int) -> str:
    value = fields.get(number, b"")
    if not isinstance(value, bytes):
        raise WireError(f"string field {number} has a number")
    return value.decode()


def _nodes(graph: bytes) -> list[tuple[list[tuple[int, str]], list[tuple[str, str]]]]:
    """TrackableObjectGraph.nodes: (children as (node_id, local_name), attributes as (name, checkpoint_key))."""
    nodes = []
    for number, _, node, _ in wire_fields(graph):
        if number != 1 or not isinstance(node, bytes):
            continue
        children, attributes = [], []
        for field, _, value, _ in wire_fields(node):
            if field not in (1, 2) or not isinstance(value, bytes):
                continue
            parts = _message(value)
            if field == 1:
                node_id = parts.get(1, 0)
                if not isinstance(node_id, int):
                    raise WireError("node_id is not a number")
                children.append((node_id, _text(parts, 2)))
            else:
                attributes.append((_text(parts, 1), _text(parts, 3)))
        nodes.append((children, attributes))
    return nodes


def _object_names(index: Path, graph: bytes) -> dict[str, str]:
    """checkpoint key -> path of child names from the root, breadth first (TF's own choice of path).

    Paths are spelled out only for nodes holding tensors, and no deeper than ``MAX_DEPTH``, so a
    hostile graph (a long chain of nodes) cannot make the names grow quadratically."""
    try:
        nodes = _nodes(graph)
    except (WireError, UnicodeDecodeError) as err:
        raise ConversionError(index, f"{OBJECT_GRAPH_KEY} is not a readable object graph: {err}") from None
    if not nodes:
        return {}
    parents: dict[int, tuple[int, str, int]] = {0: (-1, "", 0)}  # node -> (parent, local name, depth)
    queue = deque([0])
    while queue:
        node_id = queue.popleft()
        for child, local_name in nodes[node_id][0]:
            if not 0 <= child < len(nodes):
                raise ConversionError(index, f"{OBJECT_GRAPH_KEY}: node {node_id} names node {child} of {len(nodes)}")
            if child not in parents:
                parents[child] = (node_id, local_name, parents[node_id][2] + 1)
                queue.append(child)
    names: dict[str, str] = {}
    for node_id in parents:
        if not nodes[node_id][1]:
            continue
        if parents[node_id][2] > MAX_DEPTH:
            raise ConversionError(index, f"{OBJECT_GRAPH_KEY}: a tensor sits deeper than {MAX_DEPTH} objects")
        parts, at = [], node_id
        while at > 0:
            at, local_name, _ = parents[at]
            parts.append(local_name)
        path = "/".join(reversed(parts))
        for attribute, checkpoint_key in nodes[node_id][1]:
            names.setdefault(checkpoint_key, path if attribute == _VALUE else f"{path}/{attribute}".lstrip("/"))
    return names


class SavedModel:
    """The module's variables under their graph names (TF1) or object-graph paths (TF2)."""

    format = "tf-savedmodel"

    def __init__(self, path: Path) -> None:
        self.path = module_dir(path)
        self._checkpoint = tf_checkpoint.TFCheckpoint(_variables(self.path))
        index = tf_checkpoint.index_path(_variables(self.path))
        self._keys = {key: key for key in self._checkpoint.keys()}
        if OBJECT_GRAPH_KEY in read_index(index):
            with BundleReader(index) as bundle:
                recovered = _object_names(index, bundle.read_bytes(OBJECT_GRAPH_KEY))
            self._keys = {recovered.get(key, key): key for key in self._checkpoint.keys()}
            if len(self._keys) != len(self._checkpoint.keys()):
                raise ConversionError(index, "two variables recover the same name from the object graph")

    def files(self) -> list[Path]:
        graphs = [self.path / name for name in ("saved_model.pb", "tfhub_module.pb") if (self.path / name).is_file()]
        return graphs + self._checkpoint.files()

    def keys(self) -> list[str]:
        return sorted(self._keys)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._checkpoint.shape(self._keys[key])

    def dtype(self, key: str) -> np.dtype:
        return self._checkpoint.dtype(self._keys[key])

    def read(self, key: str) -> np.ndarray:
        return self._checkpoint.read(self._keys[key])


def open(path: Path) -> SavedModel:  # noqa: A001 - the reader interface's name
    return SavedModel(path)
