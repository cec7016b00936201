"""Where the shipped files live (the default model, its model card, the sample images).

They are kept in the top-level ``resources/`` folder, which pyproject.toml maps to the data package
``istr_core.resources``: a wheel (``pip install .``, pipx) carries them in
``site-packages/istr_core/resources/``, an editable install points the package at the checkout's
folder, and ``importlib.resources`` finds them in either. ``ISTR_RESOURCES`` (a folder) overrides.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

PACKAGE = "istr_core.resources"
SOURCE_TREE = Path(__file__).resolve().parents[2]  # the checkout, when this file is in one
INSTALLED_PLACE = Path(__file__).resolve().parents[1] / "resources"  # where a wheel puts them


def installed_resources() -> Path | None:
    """The data package's folder as ``importlib.resources`` finds it, or None when no install
    provides it (a source tree on ``PYTHONPATH``, never installed)."""
    try:
        return Path(str(importlib.resources.files(PACKAGE))).resolve()
    except ModuleNotFoundError:
        return None


def checkout_resources(root: Path = SOURCE_TREE) -> Path | None:
    """``resources/`` of the source tree this istr_core is imported from; None for an installed one."""
    if (root / "pyproject.toml").is_file() and (root / "resources").is_dir():
        return root / "resources"
    return None


def resources_dir() -> Path:
    """``ISTR_RESOURCES``, else the installed data package, else (broken install) where a wheel puts
    it, so that the error names a path. A source tree imported ahead of another checkout's editable
    install (``PYTHONPATH``) keeps its own files: importlib would find the other checkout's."""
    override = os.environ.get("ISTR_RESOURCES")
    if override:
        return Path(override)
    found, own = installed_resources(), checkout_resources()
    if own is not None and found != own:
        return own
    return found if found is not None else INSTALLED_PLACE


RESOURCES_DIR = resources_dir()
DEFAULT_MODEL = RESOURCES_DIR / "default_model.pt"
SAMPLES_DIR = RESOURCES_DIR / "samples"
