"""Qt-free autosave sidecar and crash recovery.

Every edit rewrites a sidecar atomically with the full state (including predictions hidden by the
confidence slider), so a crash or ``kill -9`` loses nothing. A successful save deletes the sidecar,
so a sidecar found at start-up always means unsaved work.
"""

from __future__ import annotations

import threading
from pathlib import Path

from .coco_io import load_coco_into, project_to_coco, read_coco, save_coco
from .document import UNLABELLED, Project


def sidecar_path(folder: Path, annotations: Path | None) -> Path:
    """``<annotations>.autosave.json`` beside a named file, else ``DIR/.istr_autosave.json``."""
    if annotations is not None:
        return annotations.with_name(annotations.name + ".autosave.json")
    return folder / ".istr_autosave.json"


def snapshot(project: Project) -> dict:
    """Everything needed to restore the session, hidden predictions included (cheap: RLEs are cached)."""
    return project_to_coco(project, lambda r: r.status != UNLABELLED or bool(r.instances), lambda i: True)


def write_autosave(project: Project, path: Path) -> Path:
    return save_coco(path, snapshot(project))


class BackgroundWriter:
    """Writes the newest submitted snapshot on a daemon thread, so the fsync of a large sidecar
    never stalls an edit; snapshots superseded before they are written are skipped."""

    def __init__(self):
        self._cond = threading.Condition()
        self._pending: tuple[Path, dict] | None = None
        self._busy = False
        self.error: str | None = None
        threading.Thread(target=self._loop, name="istr-autosave", daemon=True).start()

    def submit(self, path: Path, coco: dict) -> None:
        with self._cond:
            self._pending = (path, coco)
            self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything submitted is on disk (before a save, a discard, or quitting)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None)
                (path, coco), self._pending, self._busy = self._pending, None, True
            try:
                save_coco(path, coco)
                self.error = None
            except OSError as e:
                self.error = str(e)
            with self._cond:
                self._busy = False
                self._cond.notify_all()


def recovery_available(path: Path) -> bool:
    """True when a sidecar from an unsaved session exists (the caller asks the user what to do)."""
    return path.is_file() and path.stat().st_size > 0


def recover(project: Project, path: Path) -> list[str]:
    """Load the sidecar's state into ``project``; returns the loader's warnings."""
    data, warnings = read_coco(path)
    return warnings + load_coco_into(project, data, path)


def discard(path: Path) -> None:
    path.unlink(missing_ok=True)
