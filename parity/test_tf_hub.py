"""The TF reference through a SavedModel and tensorflow_hub gives the reference's logits, and so ours."""

from __future__ import annotations

from parity import results, thresholds


def test_tf_hub_round_trip_gives_the_reference_logits(suite) -> None:
    hub = results.hub(suite)["paths"]
    assert set(hub) == {"hub.load", "hub.KerasLayer"}
    for path, row in hub.items():
        assert row["max_abs_vs_reference"] <= thresholds.LOGITS_ABS / 100, (path, row)
        assert row["max_abs_vs_pytorch"] <= thresholds.LOGITS_ABS, (path, row)
