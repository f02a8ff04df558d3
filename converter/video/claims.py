"""Claims: a video is worked on by one process at a time, whatever jobs share the output folder.

Before computing ``<out>/<name>``, a process creates ``<out>/<name>.claim`` with ``O_CREAT | O_EXCL``
(atomic, also on NFS v3+ and the usual cluster file systems), holding its host, pid and a random
token; it removes it when the video is written (or failed). Another process finding the claim skips
the video, unless the claim is dead:

- same host: its pid no longer runs (``kill -9``, a crash, a reboot);
- another host: the file was not touched for ``STALE_SECONDS`` (owners touch their claims every
  ``HEARTBEAT_SECONDS`` from a thread, so the rule needs the hosts' clocks to agree within a
  minute or so, as NFS itself does).

A dead claim is taken over by renaming it to a name of one's own (only one process can rename it),
checking it still holds the dead owner's token, and claiming again. Temporary files of a video
(``.<name>.*.tmp``) are only ever written under a claim, so whoever holds the claim removes any left
from a killed owner.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path

STALE_SECONDS = 600.0
HEARTBEAT_SECONDS = 60.0
HOST = socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class Claims:
    """The claims this process holds in one output folder, kept fresh by a heartbeat thread."""

    def __init__(self, out_dir: Path, pid: int | None = None, stale_seconds: float = STALE_SECONDS) -> None:
        """``pid``: the process whose life the claims follow (default: this one; decoding workers pass
        their parent's, since the parent writes the outputs and the workers die with it)."""
        self.out_dir, self.pid, self.stale_seconds = out_dir, pid or os.getpid(), stale_seconds
        self.held: dict[str, str] = {}  # name -> token
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def path(self, name: str) -> Path:
        return self.out_dir / f"{name}.claim"

    def acquire(self, name: str) -> bool:
        """Claim video ``name``: True if this process now holds it, False if a live process does."""
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            token = secrets.token_hex(8)
            record = json.dumps({"host": HOST, "pid": self.pid, "token": token, "since": time.time()})
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self._take_over_dead(path):
                    return False
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(record + "\n")
            with self._lock:
                self.held[name] = token
            self._start_heartbeat()
            remove_temporaries(self.out_dir, name)
            return True
        return False

    def adopt(self, name: str, token: str) -> None:
        """Hold a claim another process of this job made (``handover``), keeping it fresh."""
        with self._lock:
            self.held[name] = token
        self._start_heartbeat()

    def handover(self, name: str) -> str:
        """Stop holding ``name`` without removing its claim; its token, for ``adopt``."""
        with self._lock:
            return self.held.pop(name, "")

    def release(self, name: str) -> None:
        path = self.path(name)
        with self._lock:
            token = self.held.pop(name, None)
        if token is not None and _read(path).get("token") == token:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        """Release every claim and stop the heartbeat."""
        self._stop.set()
        for name in list(self.held):
            self.release(name)

    def release_orphans(self, names: Iterable[str]) -> None:
        """Remove the claims among ``names`` made for this process (its pid on this host) that it does
        not hold: those its decoding workers made and had not handed over when it stopped (call once
        the workers are gone, so none claims anything after)."""
        for name in names:
            path = self.path(name)
            owner = _read(path)
            if owner.get("host") == HOST and owner.get("pid") == self.pid and name not in self.held:
                path.unlink(missing_ok=True)

    def _take_over_dead(self, path: Path) -> bool:
        owner = _read(path)
        if not self._dead(path, owner):
            return False
        grabbed = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.dead")
        try:
            os.rename(path, grabbed)
        except FileNotFoundError:
            return True  # someone else removed it: try again
        if _read(grabbed).get("token") != owner.get("token"):  # a fresh claim made meanwhile: put it back
            with contextlib.suppress(FileExistsError):
                os.link(grabbed, path)
        grabbed.unlink(missing_ok=True)
        return True

    def _dead(self, path: Path, owner: dict) -> bool:
        """Dead: an owner on this host that no longer runs, else untouched for too long (an empty
        claim, from an owner killed between creating and writing it, after ``HEARTBEAT_SECONDS``)."""
        if owner.get("host") == HOST:
            return not pid_alive(int(owner.get("pid", 0)))
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return True
        return age > (self.stale_seconds if owner else HEARTBEAT_SECONDS)

    def _start_heartbeat(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="claims-heartbeat", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            with self._lock:
                paths = [self.path(name) for name in self.held]
            for path in paths:
                with contextlib.suppress(OSError):
                    os.utime(path)


def remove_temporaries(out_dir: Path, name: str) -> None:
    """Remove the temporary files of video ``name`` (``.<stem>.*.tmp``) left by a killed owner."""
    stem = out_dir / name
    for temp in stem.parent.glob(f".{stem.name}.*.tmp"):
        temp.unlink(missing_ok=True)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
