"""What the wheel is built from: pyproject.toml names every package, and its package-data patterns
cover every shipped file in resources/ (the data package istr_core.resources). The wheel itself is
built, installed and run by .ci/run."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_package_of_the_tree_is_listed():
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("istr_core", "istr_app")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert set(SETUPTOOLS["packages"]) == on_disk | {"istr_core.resources"}
    assert SETUPTOOLS["package-dir"] == {"istr_core.resources": "resources"}


def test_every_shipped_file_goes_into_the_wheel():
    patterns = SETUPTOOLS["package-data"]["istr_core.resources"]
    shipped = [
        p.relative_to(ROOT / "resources").as_posix()
        for p in (ROOT / "resources").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc")
    ]
    assert "default_model.pt" in shipped and any(name.startswith("samples/") for name in shipped)
    left_out = [name for name in shipped if not any(fnmatch.fnmatch(name, pat) for pat in patterns)]
    assert not left_out, f"add a pattern for these to pyproject.toml's package-data: {left_out}"
