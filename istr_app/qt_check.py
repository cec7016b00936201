"""Refuse to start on a Qt binding known to crash the app later.

PySide6 6.12.0 drops one reference to ``None`` on every call of a method that returns nothing. On
Python < 3.12, where ``None`` is an ordinary reference-counted object, the count reaches zero after
some thousands of calls and the interpreter aborts ("deallocating None") - in the middle of an
editing session, taking unsaved edits since the last autosave with it. Detecting it at start-up
turns a random crash into one clear line.
"""

from __future__ import annotations

import sys


def none_refcount_drift(calls: int = 200) -> int:
    """How many references to ``None`` ``calls`` void Qt calls lose (0 on a sound binding; on
    Python >= 3.12 ``None`` is immortal and its count does not move)."""
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(calls):
        probe.setObjectName("probe")
    return before - sys.getrefcount(None)


def broken_binding_message() -> str | None:
    """None when the binding is safe, else the line to print."""
    if sys.version_info >= (3, 12):
        return None
    if none_refcount_drift() < 100:
        return None
    from PySide6 import QtCore

    return (
        f"PySide6 {QtCore.__version__} has a reference-counting bug on Python "
        f"{sys.version_info[0]}.{sys.version_info[1]} that crashes the app after a few thousand "
        "actions; install another version: pip install 'pyside6>=6.6,!=6.12.0'"
    )
