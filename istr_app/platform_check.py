"""Name the system libraries Qt's xcb platform plugin lacks, before Qt aborts without naming them.

On Linux, PySide6's X11 plugin (``PySide6/Qt/plugins/platforms/libqxcb.so``, which links
``Qt/lib/libQt6XcbQpa.so.6``) needs X11 helper libraries that pip cannot install (libxcb-cursor0 since
Qt 6.5, libxcb-icccm4, libxcb-keysyms1, ...). When one is missing, Qt prints 'Could not load the Qt
platform plugin "xcb" in "" even though it was found' and aborts. ``ldd`` on the plugin names each
library the loader cannot find; this module maps them to the packages that install them. Qt-free:
it finds the plugin without importing PySide6, and does nothing unless Qt will use xcb.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

# library (soname) -> (Debian/Ubuntu package, Fedora package): what libqxcb.so and the Qt libraries
# it links (QtGui, QtDBus, QtCore) need beyond glibc and libstdc++
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libXau.so.6": ("libxau6", "libXau"),
    "libXdmcp.so.6": ("libxdmcp6", "libXdmcp"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx"),
    "libGLdispatch.so.0": ("libglvnd0", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
}


def uses_xcb(environ: Mapping[str, str], platform: str) -> bool:
    """Whether Qt will load its xcb plugin: on Linux, ``QT_QPA_PLATFORM`` unset or naming xcb first
    (``xcb``, ``xcb:options``, ``xcb;wayland``). Unset on a Wayland session, Qt tries wayland."""
    if not platform.startswith("linux"):
        return False
    requested = environ.get("QT_QPA_PLATFORM", "").strip()
    if requested:
        return requested.split(";")[0].split(":")[0].strip() == "xcb"
    return environ.get("XDG_SESSION_TYPE") != "wayland"


def xcb_plugin() -> Path | None:
    """The installed PySide6's xcb plugin, or None (no PySide6, or a build without the plugin)."""
    spec = importlib.util.find_spec("PySide6")  # finds the package without importing it
    folders = spec.submodule_search_locations if spec is not None else None
    for folder in folders or []:
        plugin = Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def run_ldd(library: Path) -> str:
    """``ldd``'s report on ``library`` ('' when ldd is not there or fails)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return ""
    try:
        return subprocess.run([ldd, str(library)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def missing_libraries(ldd_output: str) -> list[str]:
    """The libraries ``ldd`` reports as ``NAME => not found``, each once, in its order."""
    missing: list[str] = []
    for line in ldd_output.splitlines():
        name, arrow, where = line.partition("=>")
        if arrow and where.strip() == "not found" and name.strip() not in missing:
            missing.append(name.strip())
    return missing


def install_hint(missing: list[str]) -> str:
    """One line: the missing libraries and the commands that install them."""
    known = [PACKAGES[name] for name in missing if name in PACKAGES]
    unknown = [name for name in missing if name not in PACKAGES]
    debian = " ".join(dict.fromkeys(deb for deb, _ in known))
    fedora = " ".join(dict.fromkeys(fed for _, fed in known))
    line = f"the Qt xcb platform plugin cannot load: missing system libraries {', '.join(missing)}"
    if known:
        line += f"; install them: sudo apt-get install {debian} (Debian/Ubuntu)"
        line += f" or sudo dnf install {fedora} (Fedora)"
    if unknown:
        line += f"; install the package that provides {', '.join(unknown)}"
    return line


def xcb_problem(
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    ldd: Callable[[Path], str] | None = None,
) -> str | None:
    """None when Qt will not use xcb or every library its plugin needs is found; else the line to
    print. Offscreen (tests, ``--screenshot`` with ``QT_QPA_PLATFORM=offscreen``) returns at once."""
    if not uses_xcb(os.environ if environ is None else environ, platform or sys.platform):
        return None
    plugin = xcb_plugin()
    if plugin is None:  # a PySide6 without the pip layout (a distribution's build): Qt reports it
        return None
    missing = missing_libraries((ldd or run_ldd)(plugin))
    return install_hint(missing) if missing else None
