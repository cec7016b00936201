"""One writer per output file: a lock file beside it, so two runs never race to replace it.

``OUT.lock`` is created with ``O_CREAT | O_EXCL`` (atomic, also on NFS) and holds the owner's pid and
host; while held, a thread touches it every ``REFRESH_S``. A lock is stale, and taken over, when its
pid is dead on this host (the run was killed) or when nobody touched it for ``STALE_AFTER_S`` (its
host died or was lost: a torchrun job requeued on other nodes must not wait for a human). So a killed
run never blocks ``--resume``; a live lock refuses the run with one line that says how to clear it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from pathlib import Path

REFRESH_S = 30.0  # the owner touches the lock this often
STALE_AFTER_S = 300.0  # a lock nobody touched for this long is stale, whatever its host


class OutputLocked(FileExistsError):
    """Another run writes the same output; the message names it and the lock file."""


def lock_path(out: Path) -> Path:
    return out.with_name(out.name + ".lock")


class OutputLock:
    """``with OutputLock(out):`` holds ``OUT.lock`` for the block; raises :class:`OutputLocked`."""

    def __init__(self, out: str | os.PathLike, what: str = "istr segment"):
        self.out, self.path, self.what = Path(out), lock_path(Path(out)), what
        self.owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "what": what}
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a stale lock removed by us (or by a racing run) frees the name: try again
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _read_owner(self.path)
                if not self._take_over_if_stale(holder):
                    raise OutputLocked(self._refusal(holder)) from None
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.owner, f)
                f.flush()
                os.fsync(f.fileno())
            self.held = True
            self._stop = threading.Event()
            threading.Thread(target=self._refresh, args=(self._stop,), daemon=True).start()
            return
        raise OutputLocked(self._refusal(_read_owner(self.path)))

    def release(self) -> None:
        """Remove the lock if it is still ours (never someone else's that replaced a stale one)."""
        if self.held:
            self._stop.set()
            if _read_owner(self.path) == self.owner:
                self.path.unlink(missing_ok=True)
        self.held = False

    def _refresh(self, stop: threading.Event) -> None:
        while not stop.wait(REFRESH_S):
            with contextlib.suppress(OSError):  # gone or replaced: release() sorts it out
                os.utime(self.path)

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _take_over_if_stale(self, holder: dict | None) -> bool:
        try:
            untouched = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return True  # released meanwhile
        dead = (
            holder is not None
            and holder.get("host") == self.owner["host"]
            and not _pid_alive(holder.get("pid"))
        )
        stale = dead or untouched > STALE_AFTER_S  # (an unreadable lock: its writer died mid-write)
        if not stale:
            return False
        # rename first: of two runs taking over the same stale lock only one moves it; check it is
        # still the stale one we judged (not a live lock created after our read), else put it back
        moved = self.path.with_name(f"{self.path.name}.stale.{os.getpid()}")
        try:
            os.rename(self.path, moved)
        except FileNotFoundError:
            return True
        if _read_owner(moved) != holder:
            with contextlib.suppress(FileExistsError):  # yet another run may hold the name now
                os.link(moved, self.path)
            moved.unlink(missing_ok=True)
            return False
        moved.unlink(missing_ok=True)
        return True

    def _refusal(self, holder: dict | None) -> str:
        if holder is None:
            who = "another run (lock file unreadable)"
        else:
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
            pid, host = holder.get("pid"), holder.get("host")
            who = f"{holder.get('what', 'another run')} (pid {pid} on {host}, since {since})"
        return (
            f"{self.out}: {who} is writing this file; wait for it to finish, or delete {self.path} "
            f"if that run is gone"
        )


def _read_owner(path: Path) -> dict | None:
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True
