"""Security: no code runs from a model file, no file outside --images is read, no shell is built
from user strings. (Crafted pickles per command: test_bad_checkpoints.py; ../ and absolute image
paths per command: test_bad_annotations.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from istr_core.formats.dataset import AnnotationError, resolve_image_path

CORE = Path(__file__).resolve().parents[2] / "istr_core"


def _sources():
    return sorted(CORE.rglob("*.py"))


def test_every_torch_load_is_weights_only():
    calls = [
        (p.name, m.group(0)) for p in _sources() for m in re.finditer(r"torch\.load\([^)]*\)", p.read_text())
    ]
    assert calls, "expected at least the checkpoint loader"
    assert all("weights_only=True" in call for _, call in calls), calls
    assert not [
        p.name for p in _sources() if re.search(r"^\s*import pickle|allow_pickle=True", p.read_text(), re.M)
    ]


def test_no_shell_commands_or_dynamic_code():
    pattern = re.compile(r"\bsubprocess\b|os\.system|os\.popen|shell\s*=\s*True|(?<![.\w])(eval|exec)\(")
    hits = [
        f"{p.relative_to(CORE)}:{i}"
        for p in _sources()
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/passwd", "a/../../x.png", "sub/../../../etc/shadow"]
)
def test_image_paths_cannot_escape_the_images_folder(tmp_path, name):
    with pytest.raises(AnnotationError, match="points outside"):
        resolve_image_path(tmp_path / "images", name)


def test_a_symlink_out_of_the_images_folder_is_refused(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "link.png").symlink_to("/etc/passwd")
    with pytest.raises(AnnotationError, match="points outside"):
        resolve_image_path(tmp_path / "images", "link.png")
