"""The report: written from one JSON, every endpoint of every stream in it, and the committed one unedited."""

from __future__ import annotations

import json

import pytest

from converter.tf_reference import ENDPOINTS
from parity import report, results
from parity.conftest import HERE
from parity.suite import STREAMS


def test_report_is_written_with_every_endpoint(suite, report_dir) -> None:
    measured = results.collect(suite)
    written = report.write(measured, report_dir)
    print(f"\nparity report: {report_dir / report.MARKDOWN_NAME}")
    assert all(path.is_file() and path.stat().st_size for path in written)
    loaded = json.loads((report_dir / report.JSON_NAME).read_text())
    markdown = (report_dir / report.MARKDOWN_NAME).read_text()
    assert markdown == report.render(loaded)
    for stream in STREAMS:
        assert list(loaded["streams"][stream]["endpoints"]) == list(ENDPOINTS)
        section = markdown.split(f"## {report.STREAM_TITLES[stream]}", 1)[1].split("\n## ", 1)[0]
        assert all(f"| {name} |" in section for name in ENDPOINTS), stream
    assert report.passed(loaded), markdown


def test_committed_report_is_rendered_from_its_json() -> None:
    """parity/REPORT.md is exactly what the code renders from parity/report.json: nobody edited it."""
    committed = HERE / report.JSON_NAME
    if not committed.is_file():
        pytest.skip("no committed report yet (`make parity` writes it)")
    assert (HERE / report.MARKDOWN_NAME).read_text() == report.render(json.loads(committed.read_text()))
