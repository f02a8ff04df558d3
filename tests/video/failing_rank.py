"""A torchrun worker for the failing-rank test: ``converter.cli.main`` with rank 1 failing.

``FAIL_AT=video`` (default): both ranks run ``features`` unchanged until each has a video in flight (its
claim and temporary files on disk); then they meet at a barrier, rank 1 raises a ConversionError (what
a full disk gives) and rank 0 waits as if its video were long, until the launcher stops it.
``FAIL_AT=end``: both ranks do their videos and meet at a barrier; then rank 1 raises while rank 0
goes on to the summary's collectives. Run as ``torchrun … -m tests.video.failing_rank features …``.
"""

from __future__ import annotations

import os
import sys
import time

MESSAGE = "disk full while writing rank 1's features (injected by the test)"


def main() -> int:
    import torch.distributed as dist

    from converter import cli
    from converter.commands import features
    from converter.errors import ConversionError
    from converter.video.feature_run import Run

    def fail_or_wait() -> None:
        dist.barrier()
        if dist.get_rank() == 1:
            raise ConversionError(None, MESSAGE)

    if os.environ.get("FAIL_AT", "video") == "video":
        receive = Run.receive

        def stalled(self, message, bar):
            outcome = receive(self, message, bar)
            if message["kind"] == "frames" and not getattr(self, "_met", False):
                self._met = True
                fail_or_wait()  # both ranks hold a claim and temporaries now
                time.sleep(3600)  # rank 0: a long video, until torchrun stops the job
            return outcome

        Run.receive = stalled
    else:
        extract = features._extract

        def then_fail(*args, **kwargs):
            summary = extract(*args, **kwargs)
            fail_or_wait()
            return summary

        features._extract = then_fail
    return cli.main()


if __name__ == "__main__":
    assert "RANK" in os.environ, "run under torchrun"
    sys.exit(main())
