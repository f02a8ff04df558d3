"""A ``features`` job for the shared-folder test: ``converter.cli.main`` that, once its first video is
done, waits until another job has finished one in the same folder (up to ``WAIT_SECONDS``).

Two jobs started together then each do a share of the videos whatever the machine's load (one alone
could otherwise finish them all before the other has started). Run as
``python -m tests.video.paced_job features …``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

WAIT_SECONDS = 300.0


def main() -> int:
    from converter import cli
    from converter.video import manifest
    from converter.video.feature_run import Run

    receive = Run.receive

    def paced(self, message, bar):
        outcome = receive(self, message, bar)
        if outcome is not None and outcome.status == "done" and not getattr(self, "_waited", False):
            self._waited = True
            deadline = time.monotonic() + WAIT_SECONDS
            while time.monotonic() < deadline and all(
                r["pid"] == os.getpid() for r in manifest.read(Path(self.out_dir))
            ):
                time.sleep(0.05)
        return outcome

    Run.receive = paced
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
