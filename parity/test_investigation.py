"""float64 truth and every conv path of both frameworks (slow: `make parity` runs it, `make test` does not)."""

from __future__ import annotations

import json

import pytest

from parity import investigation, thresholds
from parity.conftest import HERE


@pytest.mark.slow
def test_investigation(suite, report_dir) -> None:
    found = {stream: investigation.investigate(suite, stream) for stream in investigation.STREAMS}
    investigation.write(found, report_dir)
    for stream, result in found.items():
        for name, row in result["end_to_end"].items():
            where = f"{stream} {name}"
            # The float64 run is our model: TF agreeing with it means both compute the same function,
            assert row["tf_vs_f64"] <= thresholds.FLOOR_CAP, where
            # and our fp32 is no noisier than TF's own fp32 is.
            assert row["ours_vs_f64"] <= max(2 * row["tf_vs_f64"], thresholds.ENDPOINT_REL), where


def test_committed_investigation_is_rendered_from_its_json() -> None:
    committed = HERE / investigation.JSON_NAME
    if not committed.is_file():
        pytest.skip("no committed investigation yet (`make parity` writes it)")
    rendered = investigation.render(json.loads(committed.read_text()))
    assert (HERE / investigation.MARKDOWN_NAME).read_text() == rendered
