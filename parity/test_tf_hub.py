"""The TF reference through a SavedModel and tensorflow_hub gives the reference's logits, and so ours."""

from __future__ import annotations

from parity import results, thresholds


def test_tf_hub_round_trip_gives_the_reference_logits(suite) -> None:
    hub = results.hub(suite)["paths"]
    assert set(hub) == {"hub.load", "hub.KerasLayer"}
    for path, row in hub.items():
        assert row["max_abs_vs_reference"] <= thresholds.LOGITS_ABS / 100, (path, row)
        assert row["max_abs_vs_pytorch"] <= thresholds.LOGITS_ABS, (path, row)


def test_deepmind_hub_graph_agrees_with_our_model(suite, tfhub_module) -> None:
    """DeepMind's own graph (the TF-Hub module, not our re-implementation) against our model: the cricket
    clip and two other shapes, logits within 5e-5."""
    rows = results.hub_graph(suite)["clips"]
    assert [row["clip"] for row in rows] == ["cricket", "cut", "cut"] and rows[0]["shape"] == [1, 79, 224, 224]
    for row in rows:
        assert row["max_abs_vs_pytorch"] <= thresholds.LOGITS_ABS, row
        assert row["max_abs_vs_reference"] <= thresholds.LOGITS_ABS, row
