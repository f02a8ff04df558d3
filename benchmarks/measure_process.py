"""Run one command and print its wall seconds and peak RSS as JSON: ``python -m benchmarks.measure_process CMD…``.

Why a separate small process: Linux carries a process's peak RSS across ``exec`` from the memory it
had right after ``fork``, so a command started straight from pytest (hundreds of MB with torch loaded)
reports pytest's size as its own. Started from this small process, it reports its own (as
``/usr/bin/time`` would).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    print(json.dumps({"seconds": seconds, "peak_rss_bytes": usage.ru_maxrss * 1024, "returncode": code}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
