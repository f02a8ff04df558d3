"""An unfamiliar layout: `inspect` scores every table that reads the format and shows what each leaves
over, so the user sees which table to start a new one from and which keys it must add."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from converter.cli import main  # noqa: E402
from tests.readers.peer_models import PiergiajI3D, randomize  # noqa: E402


def test_a_renamed_classifier_shows_its_leftovers(tmp_path, capsys):
    """A fork of piergiaj's port that calls its classifier `classifier`: almost piergiaj, not quite."""
    state = randomize(PiergiajI3D(num_classes=5), seed=9)
    state = {k.replace("logits.", "classifier."): v for k, v in state.items()}
    torch.save(state, tmp_path / "fork.pt")
    assert main(["inspect", str(tmp_path / "fork.pt"), "--no-tensors"]) == 1
    out = capsys.readouterr().out
    piergiaj = next(line for line in out.splitlines() if line.strip().startswith("piergiaj:"))
    assert "does not fit" in piergiaj and "228 matched" in piergiaj and "114 constant" in piergiaj
    assert "2 unmatched" in piergiaj and "2 missing" in piergiaj
    for leftover in ("unmatched: classifier.conv3d.weight", "unmatched: classifier.conv3d.bias"):
        assert leftover in out
    assert "missing: Logits.Conv3d_0c_1x1.conv.weight" in out
    for table in ("hassony2", "native"):  # the other tables reading torch files are scored too
        assert f"  {table}: does not fit" in out
