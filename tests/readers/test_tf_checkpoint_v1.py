"""TF V1 checkpoints (one table file, SavedTensorSlices) read without TensorFlow: written here by TensorFlow's
own V1 Saver, every dtype it saves and a partitioned variable, compared with TensorFlow's reader bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from converter.cli import main
from converter.conversion import convert
from converter.engine import export
from converter.errors import ConversionError
from converter.mapping import load_table
from converter.readers import open_source
from converter.tfbundle.table import build_table, read_blocks, read_table

tf = pytest.importorskip("tensorflow")

DTYPES = ("float32", "float64", "float16", "int8", "int16", "int32", "int64", "uint8", "uint16", "bool")
DTYPES += ("complex64", "complex128")


def save_v1(prefix: Path, variables: dict[str, np.ndarray], partitioned: tuple[str, ...] = (), **saver) -> Path:
    """``variables`` (and a random (10, 3) variable for each name in ``partitioned``, split in 3 parts along
    axis 0) saved by tf.compat.v1.train.Saver in the V1 format; the path it wrote."""
    graph = tf.Graph()
    with graph.as_default():
        for name, value in variables.items():
            tf.compat.v1.get_variable(name, initializer=value)
        for name in partitioned:
            init = tf.compat.v1.random_normal_initializer(seed=1)
            part = tf.compat.v1.fixed_size_partitioner(3)
            tf.compat.v1.get_variable(name, shape=(10, 3), dtype=tf.float32, initializer=init, partitioner=part)
        writer = tf.compat.v1.train.Saver(write_version=tf.compat.v1.train.SaverDef.V1, **saver)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return Path(writer.save(session, str(prefix), write_meta_graph=False, write_state=False))


def tf_reads(path: Path, name: str, dtype) -> np.ndarray:
    """TensorFlow's own V1 reader (RestoreV2 falls back to TensorSliceReader), slices assembled."""
    return tf.raw_ops.RestoreV2(prefix=str(path), tensor_names=[name], shape_and_slices=[""], dtypes=[dtype])[0].numpy()


@pytest.fixture(scope="module")
def v1_checkpoint(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    variables = {f"scope/{d}": (rng.standard_normal((3, 5)) * 100).astype(d) for d in DTYPES}
    variables["scalar"] = np.float32(3.5)
    return save_v1(tmp_path_factory.mktemp("v1") / "model.ckpt", variables, ("part",))


def test_every_dtype_and_a_partitioned_variable_read_like_tensorflow(v1_checkpoint):
    source = open_source(v1_checkpoint)
    assert source.format == "tf-checkpoint-v1" and source.files() == [v1_checkpoint]
    dtypes = tf.train.load_checkpoint(str(v1_checkpoint)).get_variable_to_dtype_map()
    assert sorted(dtypes) == source.keys() == sorted([f"scope/{d}" for d in DTYPES] + ["scalar", "part"])
    for name in source.keys():
        ours, theirs = source.read(name), tf_reads(v1_checkpoint, name, dtypes[name])
        assert (ours.dtype, ours.shape) == (theirs.dtype, theirs.shape) == (source.dtype(name), source.shape(name))
        assert ours.tobytes() == theirs.tobytes(), name


def test_a_partitioned_variable_with_a_part_missing_is_refused_by_name(v1_checkpoint, tmp_path):
    entries = read_table(v1_checkpoint)
    parts = [key for key, _, _ in entries if key.startswith(b"\x00part\x00")]
    assert len(parts) == 3
    kept = [(key, value) for key, value, _ in entries if key != parts[1]]
    (tmp_path / "broken.ckpt").write_bytes(build_table(kept))
    source = open_source(tmp_path / "broken.ckpt")
    np.testing.assert_array_equal(source.read("scope/float32"), open_source(v1_checkpoint).read("scope/float32"))
    with pytest.raises(ConversionError, match=r"broken\.ckpt: tensor 'part': its saved slices cover 21 of 30 values"):
        source.read("part")


def test_a_v1_checkpoint_with_snappy_blocks_reads_the_same(v1_checkpoint, tmp_path):
    """TF1-era writers snappy-compressed table blocks: the same checkpoint with every block compressed."""
    from tests.tfbundle.snappy_tables import index_block_type, recompress

    squeezed = tmp_path / "snappy.ckpt"
    squeezed.write_bytes(v1_checkpoint.read_bytes())
    recompress(squeezed, block_size=256)
    assert index_block_type(squeezed) == 1 and len(read_blocks(squeezed)) > 3
    plain, source = open_source(v1_checkpoint), open_source(squeezed)
    assert source.keys() == plain.keys()
    assert [k for k in plain.keys() if source.read(k).tobytes() != plain.read(k).tobytes()] == []


def test_inspect_lists_a_v1_checkpoint(v1_checkpoint, capsys):
    main(["inspect", str(v1_checkpoint)])
    out = capsys.readouterr().out
    assert f"{v1_checkpoint} (tf-checkpoint-v1): 14 tensors" in out
    assert "scope/complex128" in out and "complex128" in out and "[10, 3]" in out


def test_sharded_v1_checkpoint_by_prefix(tmp_path):
    value = np.arange(12, dtype=np.int64).reshape(3, 4)
    written = save_v1(tmp_path / "model.ckpt", {"v": value}, sharded=True)
    assert written.name == "model.ckpt-?????-of-00001"  # what the Saver reports for a sharded save
    source = open_source(tmp_path / "model.ckpt")
    assert source.files() == [tmp_path / "model.ckpt-00000-of-00001"]
    np.testing.assert_array_equal(source.read("v"), value)


def test_an_i3d_v1_checkpoint_converts_exactly(tmp_path, random_state):
    """DeepMind's names in a V1 file (as TF1 wrote them): the deepmind table takes it, every tensor exact."""
    state = random_state(seed=4)
    variables = export(state, load_table("deepmind"), prefix="RGB/inception_i3d/")
    path = save_v1(tmp_path / "model.ckpt", {k: v.astype(np.float32) for k, v in variables.items()})
    result = convert(str(path), tmp_path / "ours.safetensors")
    assert result.plan.table.name == "deepmind" and not result.plan.report.problems()
    from safetensors.numpy import load_file

    ours = load_file(str(tmp_path / "ours.safetensors"))
    assert ours.keys() == state.keys()
    assert [k for k in state if ours[k].tobytes() != state[k].astype(np.float32).tobytes()] == []


def test_damaged_entries_behind_valid_checksums_are_refused_cleanly(v1_checkpoint, tmp_path):
    """The block CRCs stop most damage before the protobuf decoders run; here entries are damaged and the
    table rebuilt with valid CRCs, so the decoders themselves see it: a ConversionError or a clean read."""
    entries = [(key, value) for key, value, _ in read_table(v1_checkpoint)]
    rng = np.random.default_rng(0)
    outcomes = {"read": 0, "refused": 0}
    for case in range(150):
        damaged = list(entries)
        index = int(rng.integers(len(damaged)))
        value = bytearray(damaged[index][1])
        if case % 3 == 0:
            value = value[: int(rng.integers(len(value) + 1))]
        else:
            for at in rng.integers(len(value), size=int(rng.integers(1, 4))):
                value[at] = int(rng.integers(256))
        damaged[index] = (damaged[index][0], bytes(value))
        (tmp_path / "x.ckpt").write_bytes(build_table(damaged))
        try:
            source = open_source(tmp_path / "x.ckpt")
            for key in source.keys():
                source.read(key)
            outcomes["read"] += 1
        except ConversionError as err:
            assert str(tmp_path / "x.ckpt") in str(err)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0
