"""Progress: a tqdm bar on a terminal only; elsewhere plain lines every EVERY seconds, none for a short step."""

from __future__ import annotations

import io

from converter.progress import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_tqdm_bar():
    out = Terminal()
    with progress(3, unit="clip", desc="preprocess", file=out) as bar:
        bar.update(3)
    assert "preprocess: 100%" in out.getvalue() and "3/3" in out.getvalue() and "\r" in out.getvalue()


def test_a_log_file_gets_plain_lines_and_a_short_step_none():
    out = io.StringIO()
    with progress(None, unit="frame", desc="flow (tvl1)", file=out, every=0.0) as bar:
        bar.update(1)
        bar.update(2)
    assert [line.rsplit(",", 1)[0] for line in out.getvalue().splitlines()] == [
        "flow (tvl1): 1 frames",
        "flow (tvl1): 3 frames",
    ]
    quiet = io.StringIO()
    with progress(5, unit="clip", desc="preprocess", file=quiet, every=3600.0) as bar:
        bar.update(5)
    assert quiet.getvalue() == ""


def test_disabled_is_silent_everywhere():
    for out in (io.StringIO(), Terminal()):
        with progress(2, unit="clip", desc="x", file=out, enabled=False, every=0.0) as bar:
            bar.update(2)
        assert out.getvalue() == ""


def test_plain_lines_take_tqdms_description_and_postfix():
    out = io.StringIO()
    with progress(2, unit="video", desc="features", file=out, every=0.0) as bar:
        bar.set_description("a.mp4")
        bar.set_postfix_str("3 clips", refresh=False)
        bar.update(1)
    assert out.getvalue().rsplit(",", 1)[0] == "a.mp4: 1/2 videos, 3 clips"
