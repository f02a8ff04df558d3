"""PyTorch state_dicts of the two common ports convert to our model, and only safely-loadable files are read."""

from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import converter  # noqa: E402
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


def test_a_gamma_other_than_one_cannot_be_represented(tmp_path):
    state = randomize(PiergiajI3D(), seed=5)
    state["Mixed_4c.b1b.bn.weight"][3] = 0.5
    path = _save(state, tmp_path / "trained.pt")
    with pytest.raises(ConversionError, match=r"Mixed_4c\.b1b\.bn\.weight: must be 1\.0 everywhere.*1 of 224") as err:
        convert(str(path), tmp_path / "ours.safetensors")
    assert str(path) in str(err.value) and not (tmp_path / "ours.safetensors").exists()


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_in_a_torch_file_is_refused_and_runs_nothing(tmp_path):
    """A zip that torch.load would execute without weights_only: refused, naming the file."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2)}, path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    data_pkl = next(name for name in members if name.endswith("/data.pkl"))
    members[data_pkl] = pickle.dumps({"w": _Evil(str(marker))}, protocol=2)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ConversionError, match="not a loadable weights-only PyTorch file") as err:
        open_source(path).keys()
    assert str(path) in str(err.value) and not marker.exists()


@pytest.mark.parametrize(
    ("payload", "message"),
    [([torch.ones(1)], "expected a state_dict"), ({"optimizer": {"lr": 0.1}}, "no dict of tensors")],
)
def test_files_without_a_state_dict(tmp_path, payload, message):
    path = _save(payload, tmp_path / "odd.pt")
    with pytest.raises(ConversionError, match=message) as err:
        open_source(path).keys()
    assert str(path) in str(err.value)
