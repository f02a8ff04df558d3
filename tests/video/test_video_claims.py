"""Claims: one owner per video; a dead owner's claim and temporaries are taken over; the manifest appends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from converter.video import manifest
from converter.video.claims import HOST, Claims, pid_alive


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(done.stdout)
    assert not pid_alive(pid)
    return pid


def test_one_owner_at_a_time(tmp_path):
    first, second = Claims(tmp_path), Claims(tmp_path, pid=os.getppid())
    assert first.acquire("a/v") and not second.acquire("a/v")
    owner = json.loads((tmp_path / "a" / "v.claim").read_text())
    assert owner["host"] == HOST and owner["pid"] == os.getpid()
    first.release("a/v")
    assert not (tmp_path / "a" / "v.claim").exists() and second.acquire("a/v")
    second.close()
    assert not list(tmp_path.rglob("*.claim"))


def test_a_dead_owner_is_taken_over_with_its_temporaries(tmp_path):
    pid = dead_pid()
    (tmp_path / "v.claim").write_text(json.dumps({"host": HOST, "pid": pid, "token": "t"}))
    temp = tmp_path / f".v.npy.{pid}.abcd.body.tmp"
    temp.write_bytes(b"partial")
    other = tmp_path / ".w.npy.1.abcd.tmp"  # another video's: left alone
    other.write_bytes(b"")
    claims = Claims(tmp_path)
    assert claims.acquire("v")
    assert json.loads((tmp_path / "v.claim").read_text())["pid"] == os.getpid()
    assert not temp.exists() and other.exists()
    claims.close()


def test_another_hosts_claim_is_dead_when_stale(tmp_path):
    path = tmp_path / "v.claim"
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "t"}))
    assert not Claims(tmp_path, stale_seconds=600).acquire("v")
    old = time.time() - 601
    os.utime(path, (old, old))
    claims = Claims(tmp_path, stale_seconds=600)
    assert claims.acquire("v")
    claims.close()


def test_manifest_lines_append_whole(tmp_path):
    for i in range(3):
        manifest.append(tmp_path, {"name": f"v{i}", "status": "done"})
    (tmp_path / manifest.MANIFEST).open("a").write("{broken\n")
    assert [r["name"] for r in manifest.read(tmp_path)] == ["v0", "v1", "v2"]
    assert manifest.settings_hash({"a": 1, "b": 2}) == manifest.settings_hash({"b": 2, "a": 1})


def test_claims_made_for_a_stopping_process_by_its_workers_are_removed(tmp_path):
    parent, worker, other = Claims(tmp_path), Claims(tmp_path, pid=os.getpid()), Claims(tmp_path, pid=os.getppid())
    assert parent.acquire("held") and worker.acquire("a/orphan") and other.acquire("others")
    parent.release_orphans(["held", "a/orphan", "others", "never-claimed"])
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.claim")) == [
        "held.claim",
        "others.claim",
    ]
    parent.close()
    other.close()
