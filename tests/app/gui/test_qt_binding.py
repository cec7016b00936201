"""The installed Qt binding must not leak references to None (PySide6 6.12.0 on Python < 3.12 does,
and the app then aborts mid-session); the app refuses such a binding with one line."""

import sys

import pytest

from istr_app import main as app_main
from istr_app.qt_check import none_refcount_drift


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal on Python >= 3.12")
def test_installed_binding_keeps_none_alive(qapp):
    assert none_refcount_drift(5000) == 0


def test_broken_binding_is_refused_with_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("istr_app.qt_check.none_refcount_drift", lambda calls=200: calls)
    monkeypatch.setattr("istr_app.qt_check.sys.version_info", (3, 11, 7))
    assert app_main.main([str(tmp_path), "--no-model"]) == app_main.EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reference-counting bug" in err[0] and "!=6.12.0" in err[0]
