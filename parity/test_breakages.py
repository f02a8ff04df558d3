"""The gate must fail a deliberately broken model, each plausible porting mistake on its own."""

from __future__ import annotations

import pytest

from parity import thresholds
from parity.breakages import BREAKAGES
from parity.compare import compare
from parity.suite import BROKEN_SHAPE


def test_unbroken_model_passes_on_the_same_clip(suite) -> None:
    assert thresholds.violations("rgb", suite.shape("rgb", BROKEN_SHAPE)) == []


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_gate_fails_a_broken_model(suite, breakage) -> None:
    found = thresholds.violations(breakage, suite.broken(breakage))
    assert found, f"{breakage} went unnoticed"


def test_breakages_are_undone(suite) -> None:
    """Breaking is scoped: afterwards the model is back at parity (the other tests rely on it)."""
    for breakage in BREAKAGES:
        suite.broken(breakage)
    again = compare(suite.tf_side("rgb", BROKEN_SHAPE), suite.model("rgb"))
    assert thresholds.violations("rgb", again) == []
