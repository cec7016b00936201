"""The shipped files are found from a checkout (editable install or PYTHONPATH) and from the data
package an installed wheel carries (built, installed and run outside the checkout by .ci/run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from istr_core.data import shipped

ROOT = Path(__file__).resolve().parents[3]


def test_a_checkout_finds_its_own_resources():
    assert shipped.RESOURCES_DIR == ROOT / "resources"
    assert shipped.DEFAULT_MODEL.is_file() and sorted(shipped.SAMPLES_DIR.glob("*.jpg"))


def test_an_installed_data_package_is_found_when_not_in_a_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("ISTR_RESOURCES", raising=False)
    monkeypatch.setattr(shipped, "checkout_resources", lambda: None)  # as in site-packages
    monkeypatch.setattr(shipped, "installed_resources", lambda: tmp_path)
    assert shipped.resources_dir() == tmp_path
    monkeypatch.setattr(shipped, "installed_resources", lambda: None)  # a broken install
    assert shipped.resources_dir() == shipped.INSTALLED_PLACE


def test_another_checkouts_install_does_not_replace_this_checkouts_files(monkeypatch, tmp_path):
    monkeypatch.delenv("ISTR_RESOURCES", raising=False)
    monkeypatch.setattr(shipped, "installed_resources", lambda: tmp_path / "other" / "resources")
    assert shipped.resources_dir() == ROOT / "resources"


def test_a_folder_is_a_checkout_only_with_its_pyproject(tmp_path):
    (tmp_path / "resources").mkdir()
    assert shipped.checkout_resources(tmp_path) is None  # e.g. lib/python3.x/resources by chance
    (tmp_path / "pyproject.toml").write_text("")
    assert shipped.checkout_resources(tmp_path) == tmp_path / "resources"


def test_istr_resources_overrides(tmp_path):
    code = "from istr_core.data.shipped import DEFAULT_MODEL; print(DEFAULT_MODEL)"
    env = {**os.environ, "ISTR_RESOURCES": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == tmp_path / "default_model.pt"
