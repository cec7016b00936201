"""Before Qt aborts on a Linux desktop that lacks an X11 library, istr-app names the library and the
packages that install it, in one line, and exits 2; offscreen never runs the check."""

from __future__ import annotations

from pathlib import Path

import pytest

from istr_app import main as app_main
from istr_app.platform_check import install_hint, missing_libraries, uses_xcb, xcb_plugin, xcb_problem

# ldd on PySide6 6.11's libqxcb.so on a Debian 12 machine without libxcb-icccm4 and libxcb-keysyms1
LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd5b5f1000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxkbcommon-x11.so.0 => /lib/x86_64-linux-gnu/libxkbcommon-x11.so.0 (0x00007fea68d0d000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007fea681b3000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007fea679d6000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\t/lib64/ld-linux-x86-64.so.2 (0x00007fea68d53000)
"""


def test_the_missing_libraries_are_read_from_ldd_once_each_in_order():
    assert missing_libraries(LDD_OUTPUT) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert missing_libraries("") == []
    assert missing_libraries(LDD_OUTPUT.replace("not found", "/usr/lib/x.so (0x1)")) == []


def test_the_hint_names_the_debian_and_fedora_packages():
    line = install_hint(["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    assert "\n" not in line
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 (Debian/Ubuntu)" in line
    assert "sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms (Fedora)" in line


def test_a_library_without_a_known_package_is_still_named():
    line = install_hint(["libxcb-randr.so.0", "libxcb-shm.so.0", "libfoo.so.3"])
    assert "libfoo.so.3" in line and "sudo dnf install libxcb (Fedora)" in line  # one package, once
    assert "apt-get install libxcb-randr0 libxcb-shm0 " in line
    assert "apt-get" not in install_hint(["libfoo.so.3"]) and "libfoo.so.3" in install_hint(["libfoo.so.3"])


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb:nodbus"}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb;wayland"}, "linux", True),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux", False),
        ({"XDG_SESSION_TYPE": "wayland"}, "linux", False),
        ({"XDG_SESSION_TYPE": "x11"}, "linux", True),
        ({}, "darwin", False),
        ({}, "win32", False),
    ],
)
def test_only_the_xcb_platform_is_checked(environ, platform, expected):
    assert uses_xcb(environ, platform) is expected


def test_offscreen_never_runs_ldd():
    def ldd(path: Path) -> str:
        raise AssertionError("ldd ran")

    assert xcb_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", ldd) is None
    assert xcb_problem({}, "darwin", ldd) is None


@pytest.mark.skipif(xcb_plugin() is None, reason="this PySide6 has no xcb plugin (not Linux)")
def test_the_check_reads_the_installed_plugin_and_passes_when_nothing_is_missing():
    seen = []
    fine = LDD_OUTPUT.replace("not found", "/usr/lib/x.so (0x1)")
    assert xcb_problem({}, "linux", lambda path: seen.append(path) or fine) is None
    assert seen and seen[0].name == "libqxcb.so" and seen[0].is_file()  # PySide6's own plugin


def test_istr_app_refuses_to_start_with_one_line_and_exit_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setattr("istr_app.platform_check.sys.platform", "linux")
    monkeypatch.setattr("istr_app.platform_check.xcb_plugin", lambda: tmp_path / "libqxcb.so")
    monkeypatch.setattr("istr_app.platform_check.run_ldd", lambda path: LDD_OUTPUT)
    assert app_main.main([str(tmp_path), "--no-model"]) == app_main.EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("istr-app: error: the Qt xcb platform plugin cannot load")
    assert err[0].endswith(
        "sudo apt-get install libxcb-icccm4 libxcb-keysyms1 (Debian/Ubuntu) "
        "or sudo dnf install xcb-util-wm xcb-util-keysyms (Fedora)"
    )
