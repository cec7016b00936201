"""OUT.lock: one writer per output file; a dead run's lock is taken over, a live or foreign one refuses."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from istr_core.predict import output_lock
from istr_core.predict.output_lock import OutputLock, OutputLocked, lock_path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: the pid now names no process
    return proc.pid


def _write_lock(out, **owner):
    lock_path(out).write_text(json.dumps({"host": socket.gethostname(), "since": time.time(), **owner}))


def test_lock_is_exclusive_and_released(tmp_path):
    out = tmp_path / "sub" / "anns.json"
    with OutputLock(out):
        held = json.loads(lock_path(out).read_text())
        assert held["pid"] == os.getpid() and held["host"] == socket.gethostname()
        with pytest.raises(OutputLocked, match=rf"pid {os.getpid()} on .*delete .*anns\.json\.lock"):
            OutputLock(out).acquire()
    assert not lock_path(out).exists()


def test_a_live_process_lock_refuses(tmp_path):
    out = tmp_path / "anns.json"
    _write_lock(out, pid=os.getppid(), what="istr segment")  # the process that started pytest: alive
    with pytest.raises(OutputLocked) as caught:
        OutputLock(out).acquire()
    assert "\n" not in str(caught.value) and str(out) in str(caught.value)
    assert lock_path(out).exists()


def test_a_dead_process_lock_is_taken_over(tmp_path):
    out = tmp_path / "anns.json"
    _write_lock(out, pid=_dead_pid())
    with OutputLock(out):
        assert json.loads(lock_path(out).read_text())["pid"] == os.getpid()
    assert not lock_path(out).exists() and not list(tmp_path.glob("*.stale.*"))


def test_a_lock_from_another_host_refuses_until_nobody_touched_it_for_minutes(tmp_path):
    """Its pid cannot be checked from here; a host that died stops touching it (a requeued job)."""
    out = tmp_path / "anns.json"
    lock_path(out).write_text(json.dumps({"pid": _dead_pid(), "host": "some-other-node", "since": 0}))
    with pytest.raises(OutputLocked, match="on some-other-node"):
        OutputLock(out).acquire()
    old = time.time() - output_lock.STALE_AFTER_S - 10
    os.utime(lock_path(out), (old, old))
    with OutputLock(out):
        assert json.loads(lock_path(out).read_text())["host"] == socket.gethostname()


def test_a_held_lock_is_touched_so_it_never_looks_stale(tmp_path, monkeypatch):
    monkeypatch.setattr(output_lock, "REFRESH_S", 0.05)
    out = tmp_path / "anns.json"
    with OutputLock(out):
        old = time.time() - 3600
        os.utime(lock_path(out), (old, old))
        time.sleep(0.5)
        assert time.time() - lock_path(out).stat().st_mtime < 60


def test_a_torn_lock_refuses_while_young_and_is_taken_over_when_old(tmp_path):
    out = tmp_path / "anns.json"
    lock_path(out).write_text("")  # its writer died between create and write
    with pytest.raises(OutputLocked, match="unreadable"):
        OutputLock(out).acquire()
    old = time.time() - 3600
    os.utime(lock_path(out), (old, old))
    with OutputLock(out):
        pass


def test_release_leaves_a_lock_that_is_not_ours(tmp_path):
    out = tmp_path / "anns.json"
    lock = OutputLock(out)
    lock.acquire()
    _write_lock(out, pid=os.getppid())  # replaced behind our back (e.g. by hand)
    lock.release()
    assert lock_path(out).exists()
