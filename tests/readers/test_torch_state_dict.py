"""PyTorch state_dicts of the two common ports convert to our model, and only safely-loadable files are read."""

from __future__ import annotations

import argparse
import io
import os
import pickle
import re
import subprocess
import sys
import types
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import converter  # noqa: E402
import converter.cli  # noqa: E402
from converter.conversion import convert  # noqa: E402
from converter.engine import select_table  # noqa: E402
from converter.errors import ConversionError  # noqa: E402
from converter.mapping import load_tables  # noqa: E402
from converter.models.i3d_spec import parameter_shapes  # noqa: E402
from converter.readers import open_source  # noqa: E402
from tests.readers.peer_models import Hassony2I3D, PiergiajI3D, randomize  # noqa: E402


def _save(state, path):
    torch.save(state, path)
    return path


def test_piergiaj_port_and_our_model_agree_on_a_clip(tmp_path):
    """The port itself (its forward, its padding) and our model built from the converted file give one answer."""
    peer = PiergiajI3D().eval()
    state = randomize(peer, seed=1, counter=1234)  # a trained model's counter is dropped, not refused
    result = convert(str(_save(state, tmp_path / "rgb_imagenet.pt")), tmp_path / "ours.safetensors")
    assert result.plan.table.name == "piergiaj" and len(result.plan.report.constant) == 2 * 57
    ours = converter.load_model(tmp_path / "ours.safetensors")
    clip = torch.rand(1, 3, 9, 193, 193, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        theirs, mine = peer(clip).mean(2), ours(clip)
    torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-5 * float(theirs.abs().max()))


def test_hassony2_units_land_on_ours_in_graph_order(tmp_path):
    """Both models register their units in graph order, so position (not the table) says what lands where."""
    state = randomize(Hassony2I3D(in_channels=2, num_classes=7), seed=2)
    convert(str(_save(state, tmp_path / "model_flow.pth")), tmp_path / "ours.pt", fmt="pt")
    ours = converter.load_model(tmp_path / "ours.pt")
    assert ours.metadata["stream"] == "flow" and ours.metadata["mapping"] == "hassony2"
    theirs = [t for k, t in state.items() if not k.endswith(("batch3d.weight", "num_batches_tracked"))]
    mine = [ours.state_dict()[k] for k in parameter_shapes(num_classes=7, in_channels=2)]
    assert len(theirs) == len(mine) == 230
    for a, b in zip(theirs, mine, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {f"module.{k}": v for k, v in sd.items()},  # saved from nn.DataParallel
        lambda sd: {"epoch": 3, "state_dict": sd, "best_acc": 0.5},  # a training checkpoint
    ],
    ids=["dataparallel", "checkpoint-dict"],
)
def test_wrapped_state_dicts(tmp_path, wrap):
    state = randomize(PiergiajI3D(), seed=3)
    the_plan = select_table(open_source(_save(wrap(state), tmp_path / "w.pt")), load_tables())
    assert the_plan.table.name == "piergiaj" and not the_plan.report.problems()
    tensor = the_plan.tensors()["Mixed_4d.Branch_2.Conv3d_0b_3x3.conv.weight"].load()
    np.testing.assert_array_equal(tensor, state["Mixed_4d.b2b.conv3d.weight"].numpy())


def test_legacy_torch_format_is_not_mistaken_for_a_flax_pickle(tmp_path):
    state = randomize(Hassony2I3D(), seed=4)
    path = tmp_path / "old.pth"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    source = open_source(path)
    assert source.format == "torch-state-dict" and len(source.keys()) == len(state)
    np.testing.assert_array_equal(source.read("conv3d_1a_7x7.conv3d.weight"), state["conv3d_1a_7x7.conv3d.weight"])


def _train_gamma(state: dict, seed: int) -> dict:
    """A fine-tune's BatchNorm scales: every gamma moved off 1."""
    generator = torch.Generator().manual_seed(seed)
    for key, value in state.items():
        if key.endswith(("bn.weight", "batch3d.weight")):
            value.copy_(torch.rand(value.shape, generator=generator) + 0.5)
    return state


def test_a_trained_gamma_converts_exactly_and_exports_back(tmp_path):
    """piergiaj fine-tune with trained gammas: the model gains bn.weight (config bn_scale), agrees with the
    port itself, its folded copy too, and --to piergiaj gives back the very same tensors."""
    peer = PiergiajI3D().eval()
    state = _train_gamma(randomize(peer, seed=5), seed=5)
    peer.load_state_dict(state)
    result = convert(str(_save(state, tmp_path / "charades.pt")), tmp_path / "ours.safetensors")
    assert result.plan.config["bn_scale"] is True and len(result.plan.report.constant) == 57  # the counters
    ours = converter.load_model(tmp_path / "ours.safetensors")
    assert ours.state_dict()["Mixed_4c.Branch_1.Conv3d_0b_3x3.bn.weight"].equal(state["Mixed_4c.b1b.bn.weight"])
    clip = torch.rand(1, 3, 9, 193, 193, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        theirs, mine, fused = peer(clip).mean(2), ours(clip), ours.fuse()(clip)
    scale = 1e-5 * float(theirs.abs().max())
    torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=scale)
    torch.testing.assert_close(fused, mine, rtol=1e-5, atol=scale)

    convert(str(tmp_path / "ours.safetensors"), tmp_path / "back.pt", to="piergiaj")
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    assert back.keys() == state.keys()
    assert [k for k in state if not torch.equal(back[k], state[k])] == []


def test_a_trained_gamma_round_trips_through_hassony2(tmp_path):
    state = _train_gamma(randomize(Hassony2I3D(in_channels=2, num_classes=7), seed=9), seed=9)
    convert(str(_save(state, tmp_path / "flow.pth")), tmp_path / "ours.safetensors")
    convert(str(tmp_path / "ours.safetensors"), tmp_path / "back.pth", to="hassony2")
    back = torch.load(tmp_path / "back.pth", weights_only=True)
    assert back.keys() == state.keys() and [k for k in state if not torch.equal(back[k], state[k])] == []


def test_all_ones_gamma_adds_no_parameter(tmp_path):
    """TF-born weights (gamma 1 everywhere): no bn.weight, no bn_scale in the config — as before."""
    state = randomize(PiergiajI3D(), seed=10)
    result = convert(str(_save(state, tmp_path / "w.pt")), tmp_path / "ours.safetensors")
    assert result.plan.config == {"num_classes": 400, "in_channels": 3}
    assert not [k for k in converter.load_model(tmp_path / "ours.safetensors").state_dict() if k.endswith("bn.weight")]


def test_a_trained_gamma_cannot_go_to_the_tf_layout(tmp_path):
    state = _train_gamma(randomize(PiergiajI3D(), seed=11), seed=11)
    convert(str(_save(state, tmp_path / "w.pt")), tmp_path / "ours.safetensors")
    with pytest.raises(ConversionError, match=r"deepmind cannot export: 57 parameter\(s\) without a rule"):
        convert(str(tmp_path / "ours.safetensors"), tmp_path / "tf.ckpt", to="deepmind")


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _rewrite_data_pkl(path, data: bytes) -> None:
    """Replace a torch zip's pickle with ``data``, keeping its storages."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    data_pkl = next(name for name in members if name.endswith("/data.pkl"))
    members[data_pkl] = data
    with zipfile.ZipFile(path, "w") as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)


def test_code_in_a_torch_file_becomes_a_placeholder_and_runs_nothing(tmp_path):
    """A zip that torch.load would execute without weights_only: the call is an inert placeholder, named."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2)}, path)
    _rewrite_data_pkl(path, pickle.dumps({"w": _Evil(str(marker))}, protocol=2))
    with pytest.raises(ConversionError, match=r"no dict of tensors.*'w' \((posix|nt)\.system\)") as err:
        open_source(path).keys()
    assert str(path) in str(err.value) and not marker.exists()


class _Reduce:
    """Pickles as ``function(*args)``."""

    def __init__(self, function, *args) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


def _hostile(marker):
    return {
        "os.system": _Reduce(os.system, f"touch {marker}"),
        "builtins.eval": _Reduce(eval, f"open({str(marker)!r}, 'w')"),
        "subprocess.Popen": _Reduce(subprocess.Popen, ["touch", str(marker)]),
        "nested": {"history": [1, (2, {"hook": _Reduce(os.system, f"touch {marker}")})]},
    }


@pytest.mark.parametrize("case", ["os.system", "builtins.eval", "subprocess.Popen", "nested"])
def test_hostile_extras_beside_the_weights_run_nothing(tmp_path, case):
    """A checkpoint whose extras would run a command: the weights convert, the extras are inert and named."""
    marker = tmp_path / "pwned"
    state = randomize(PiergiajI3D(), seed=6)
    path = _save({"state_dict": state, "extra": _hostile(marker)[case]}, tmp_path / "ckpt.pt")
    source = open_source(path)
    assert len(source.keys()) == len(state) and not marker.exists()
    expected = {"os.system": "(posix|nt).system", "builtins.eval": "builtins.eval"}.get(case)
    expected = expected or {"subprocess.Popen": "subprocess.Popen", "nested": "dict"}[case]
    assert re.fullmatch(rf"extra \({expected}\)", source.extras()[0])
    assert not marker.exists()


def test_code_in_a_tensor_storage_record_runs_nothing(tmp_path):
    """A storage record (the persistent id torch resolves to a storage) whose type is a command: refused,
    the cause whole on one line, nothing run."""
    marker = tmp_path / "pwned"
    storage = object()

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", _Reduce(os.system, f"touch {marker}"), "0", "cpu", 2) if obj is storage else None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump({"w": storage})
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2)}, path)
    _rewrite_data_pkl(path, buffer.getvalue())
    with pytest.raises(ConversionError, match="not a loadable PyTorch file") as err:
        open_source(path).keys()
    assert str(path) in str(err.value) and "\x1b" not in str(err.value) and not marker.exists()


def test_training_checkpoint_with_extras_converts_and_lists_them(tmp_path, monkeypatch, capsys):
    """args (argparse.Namespace), a class from the training code (not importable here), epoch, optimizer:
    skipped and listed by qualified name; the weights convert."""
    peer = PiergiajI3D()
    state = randomize(peer, seed=7)
    trainer = types.ModuleType("trainer_config")

    class Config:  # lives only while saving: loading must not need (or import) it
        pass

    Config.__module__, Config.__qualname__ = "trainer_config", "Config"
    trainer.Config = Config
    monkeypatch.setitem(sys.modules, "trainer_config", trainer)
    optimizer = torch.optim.SGD(peer.parameters(), lr=0.1, momentum=0.9)
    checkpoint = {
        "epoch": 7,
        "state_dict": state,
        "args": argparse.Namespace(lr=0.1, clip=64),
        "config": Config(),
        "optimizer": optimizer.state_dict(),
    }
    _save(checkpoint, tmp_path / "ckpt.pt")
    monkeypatch.delitem(sys.modules, "trainer_config")
    assert converter.cli.main(["convert", str(tmp_path / "ckpt.pt"), "--out", str(tmp_path / "w.safetensors")]) == 0
    out = capsys.readouterr().out
    assert (
        "skipped 4 non-weight entries: epoch (int), args (argparse.Namespace), config (trainer_config.Config), "
        "optimizer (dict)" in out
    )
    assert "trainer_config" not in sys.modules
    ours = converter.load_model(tmp_path / "w.safetensors")
    assert torch.equal(
        ours.state_dict()["Mixed_4d.Branch_2.Conv3d_0b_3x3.conv.weight"], state["Mixed_4d.b2b.conv3d.weight"]
    )


def test_a_whole_pickled_module_converts_without_its_code(tmp_path, monkeypatch):
    """torch.save(model): the module's classes become placeholders; its parameters and persistent buffers
    are found as model.state_dict() names them."""
    peer = PiergiajI3D()
    state = randomize(peer, seed=8)
    torch.save(peer, tmp_path / "model.pt")
    source = open_source(tmp_path / "model.pt")
    assert source.keys() == sorted(state)
    np.testing.assert_array_equal(source.read("Mixed_5c.b0.bn.running_var"), state["Mixed_5c.b0.bn.running_var"])


def test_a_huge_memo_index_is_refused_before_unpickling(tmp_path):
    """CPython's unpickler sizes its memo by the largest index: a few bytes would allocate gigabytes."""
    path = tmp_path / "memo.pt"
    torch.save({"w": torch.ones(2)}, path)
    _rewrite_data_pkl(path, b"\x80\x02}r\xff\xff\xff\x7f.")  # {} memoised at index 2**31 - 1
    with pytest.raises(ConversionError, match=r"memo\.pt: not a loadable PyTorch file: memo index 2147483647"):
        open_source(path).keys()


def test_torch_errors_are_whole_one_line_per_cause_without_colour():
    from converter.readers.torch_state_dict import causes

    try:
        try:
            raise ValueError("\x1b[1mbad\x1b[0m record:\n\tsecond line")
        except ValueError as inner:
            raise RuntimeError("cannot load\n\nthe file") from inner
    except RuntimeError as err:
        assert causes(err) == "cannot load the file\n  caused by: bad record: second line"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, TorchScript files are not
def test_torchscript_archives_are_refused(tmp_path):
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), tmp_path / "scripted.pt")
    with pytest.raises(ConversionError, match="TorchScript archive"):
        open_source(tmp_path / "scripted.pt").keys()


@pytest.mark.parametrize(
    ("payload", "message"),
    [([torch.ones(1)], "expected a state_dict"), ({"optimizer": {"lr": 0.1}}, "no dict of tensors")],
)
def test_files_without_a_state_dict(tmp_path, payload, message):
    path = _save(payload, tmp_path / "odd.pt")
    with pytest.raises(ConversionError, match=message) as err:
        open_source(path).keys()
    assert str(path) in str(err.value)
