"""The GUI's open and save (issue 6): every odd image a folder holds, every bad COCO file, and a
save that cannot be written. The window opens or refuses with one line; nothing crashes; nothing
the user did is lost.

The COCO cases are the command line's (tests/cli BAD_FILES, MORE_BAD and SKIPPED here): the GUI
uses the same validator, so a file `istr finetune` refuses, `istr-app --annotations` refuses too."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from istr_app.controller import load_project
from istr_app.main import build_window, main, parse_args
from tests.cli.test_finetune import BAD_FILES
from tests.robustness.conftest import encode
from tests.robustness.test_bad_annotations import MORE_BAD, SKIPPED, H, W
from tests.robustness.test_bad_images import CASES

pytestmark = pytest.mark.usefixtures("qapp")

# The GUI tolerates what only loses one image rather than the file: a reviewer can still work.
TOLERATED = {
    "missing file": "not in",
    "escaping path": "points outside",
    "absolute file name": "points outside",
    "escaping file name": "points outside",
    "no images": None,
}


def _folder(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "x.png").write_bytes(encode(np.full((H, W, 3), 100, np.uint8)))
    return folder


def _good() -> dict:
    return {
        "images": [{"id": 1, "file_name": "x.png", "width": W, "height": H}],
        "categories": [{"id": 1, "name": "ellipse"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 30, 2, 30, 30]]}],
    }


def _whole_file_cases() -> dict:
    cases = {name: (lambda d, make=make: make(d), frag) for name, (make, frag) in BAD_FILES.items()}
    for name, (mutate, frag) in MORE_BAD.items():

        def make(d, mutate=mutate):
            mutate(d)
            return json.dumps(d)

        cases[name] = (make, frag)
    return cases


WHOLE = _whole_file_cases()


@pytest.mark.parametrize("case", sorted(set(WHOLE) - set(TOLERATED)))
def test_bad_coco_is_refused_with_one_line(tmp_path, capsys, case):
    folder = _folder(tmp_path)
    make, fragment = WHOLE[case]
    bad = tmp_path / "bad.json"
    bad.write_text(make(_good()))
    code = main(
        [str(folder), "--no-model", "--annotations", str(bad), "--screenshot", str(tmp_path / "s.png")]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert fragment in err and "bad.json" in err


@pytest.mark.parametrize("case", sorted(TOLERATED))
def test_coco_naming_missing_or_outside_images_opens_with_a_warning(tmp_path, qtbot, case):
    folder = _folder(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(WHOLE[case][0](_good()))
    project, warnings = load_project(folder, bad)
    assert [r.key for r in project.records] == ["x.png"]  # nothing outside the folder is opened
    if TOLERATED[case]:
        assert any(TOLERATED[case] in line for line in warnings), warnings
    w = build_window(
        parse_args([str(folder), "--no-model", "--annotations", str(bad), "--recover", "no"]), folder
    )
    qtbot.addWidget(w)
    w.ask_on_close = False
    assert [r.key for r in w.controller.project.records] == ["x.png"]


@pytest.mark.parametrize("case", sorted(SKIPPED))
def test_bad_annotation_is_dropped_with_a_warning_and_the_rest_opens(tmp_path, qtbot, case):
    folder = _folder(tmp_path)
    data = _good()
    seg, fragment = SKIPPED[case]
    bad_ann = {"id": 2, "image_id": 1, "category_id": 1}
    if seg is not None:
        bad_ann["segmentation"] = seg
    data["annotations"].append(bad_ann)
    path = tmp_path / "anns.json"
    path.write_text(json.dumps(data))
    _, warnings = load_project(folder, path)
    assert any(fragment in line for line in warnings), warnings
    w = build_window(
        parse_args([str(folder), "--no-model", "--annotations", str(path), "--recover", "no"]), folder
    )
    qtbot.addWidget(w)
    w.ask_on_close = False
    (inst,) = w.controller.project.records[0].instances  # the good polygon, nothing else
    assert inst.mask[10, 20]


def test_every_odd_image_opens_or_shows_why_not(tmp_path, qtbot):
    folder = tmp_path / "odd"
    folder.mkdir()
    for name, (data, _) in CASES.items():
        (folder / name).write_bytes(data)
    w = build_window(parse_args([str(folder), "--no-model", "--recover", "no"]), folder)
    qtbot.addWidget(w)
    w.ask_on_close = False
    c = w.controller
    for i, rec in enumerate(c.project.records):
        c.set_current(i)
        expected = CASES[rec.key][1]
        if isinstance(expected, str):
            assert c.image is None and expected in w.status_label.text(), rec.key
        else:
            assert c.image.shape == (expected[1], expected[0], 3) and c.image.dtype == np.uint8, rec.key
            c.brush_radius = 1
            c.paint([(0, 0)])  # an edit works on every readable one, even 1x1
            assert c.record.instances, rec.key


def test_save_that_cannot_be_written_keeps_everything(tmp_path, qtbot, monkeypatch):
    dialogs = []
    monkeypatch.setattr("istr_app.ui.main_window.QMessageBox.warning", lambda *a: dialogs.append(a[2]))
    folder = _folder(tmp_path)
    good = tmp_path / "anns.json"
    good.write_text(json.dumps(_good()))
    old = good.read_bytes()
    w = build_window(
        parse_args([str(folder), "--no-model", "--annotations", str(good), "--recover", "no"]), folder
    )
    qtbot.addWidget(w)
    w.ask_on_close = False
    c = w.controller
    c.set_current(0)
    c.brush_radius = 2
    c.paint([(50, 40)])
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    c.annotations = blocker / "anns.json"  # its parent is a file: the write must fail
    w.on_save()
    assert len(dialogs) == 1 and "could not save" in dialogs[0] and "autosave" in dialogs[0] and c.dirty
    assert good.read_bytes() == old  # the file that was open is untouched
    c.flush_autosave()
    assert os.path.getsize(c.autosave_path) > 0  # and the edit is in the autosave
    # closing with "Save" while the save fails keeps the window open rather than quitting
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(
        "istr_app.ui.main_window.QMessageBox.question", lambda *a: QMessageBox.StandardButton.Save
    )
    w.ask_on_close = True
    w.show()
    assert not w.close() and w.isVisible() and len(dialogs) == 2
    w.ask_on_close = False
