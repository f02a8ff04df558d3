"""The cricket clip: all 17 endpoints of each stream, and the joint logits, within the thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from converter.tf_reference import ENDPOINTS
from parity import results, thresholds
from parity.suite import JOINT, STREAMS


@pytest.mark.parametrize("stream", list(STREAMS))
def test_every_endpoint_within_thresholds(suite, stream) -> None:
    comparison = suite.cricket(stream)
    assert tuple(comparison.diffs) == ENDPOINTS
    assert thresholds.violations(stream, comparison) == []


@pytest.mark.parametrize("stream", list(STREAMS))
def test_top5_classes_agree(suite, stream) -> None:
    top5 = results.stream(suite, stream)["top5"]
    assert [row[0] for row in top5["tensorflow"]] == [row[0] for row in top5["pytorch"]]


def test_joint_logits_within_threshold(suite) -> None:
    joint = results.joint(suite)
    assert joint["violations"] == [], joint
    tf_sum = sum(suite.cricket(name).tf_logits for name in JOINT)
    assert np.array_equal(np.argsort(-tf_sum[0])[:5], [row[0] for row in joint["top5"]["pytorch"]])


def test_real_rgb_weights_recognise_cricket(suite) -> None:
    """DeepMind's real weights (not generated ones) see 'playing cricket' on both sides."""
    if suite.checkpoint("rgb").origin == "generated":
        pytest.skip("rgb weights are generated")
    top5 = results.stream(suite, "rgb")["top5"]
    assert top5["tensorflow"][0][1] == top5["pytorch"][0][1] == "playing cricket"
