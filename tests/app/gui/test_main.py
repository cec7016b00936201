"""The entry point: headless self-check, one-line errors, autosave recovery at start-up."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

import istr_core
from istr_app.main import build_window, main, parse_args


def test_screenshot_self_check(image_dir, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "shot.png"
    rc = main(
        [
            str(image_dir),
            "--weights",
            str(tiny_checkpoint),
            "--prelabel",
            "--screenshot",
            str(out),
            "--recover",
            "no",
        ]
    )
    assert rc == 0 and out.stat().st_size > 10000
    assert not (image_dir / ".istr_autosave.json").exists()  # the self-check writes nothing into DIR
    assert "screenshot written" in capsys.readouterr().out


def test_clear_errors(tmp_path, image_dir, capsys):
    assert main([str(tmp_path / "missing"), "--no-model", "--screenshot", str(tmp_path / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main([str(image_dir), "--weights", str(bad), "--screenshot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "bad.pt" in err
    junk = tmp_path / "junk.json"
    junk.write_text("{nope")
    assert (
        main(
            [
                str(image_dir),
                "--no-model",
                "--annotations",
                str(junk),
                "--screenshot",
                str(tmp_path / "x.png"),
            ]
        )
        == 2
    )
    assert "junk.json" in capsys.readouterr().err


def test_autosave_after_edit_and_recovery_on_restart(image_dir, qtbot, tmp_path):
    anns = tmp_path / "anns.json"
    args = parse_args([str(image_dir), "--no-model", "--annotations", str(anns), "--recover", "yes"])
    w = build_window(args, image_dir)
    w.ask_on_close = False
    qtbot.addWidget(w)
    mask = np.zeros((96, 128), bool)
    mask[5:25, 5:40] = True
    w.controller.add_mask(mask)
    w.controller.flush_autosave()
    side = w.controller.autosave_path
    assert side == tmp_path / "anns.json.autosave.json" and side.is_file() and not anns.exists()
    w.close()  # as if the app was killed: nothing saved, sidecar stays

    again = build_window(args, image_dir)
    again.ask_on_close = False
    qtbot.addWidget(again)
    (inst,) = again.controller.project.records[0].instances
    assert np.array_equal(inst.mask, mask)
    again.controller.save()
    assert anns.is_file() and not side.exists()

    declined = build_window(parse_args([str(image_dir), "--no-model", "--recover", "no"]), image_dir)
    declined.ask_on_close = False
    qtbot.addWidget(declined)
    assert declined.controller.project.records[0].instances == []


def test_open_existing_coco_for_review(image_dir, qtbot):
    args = parse_args(
        [str(image_dir), "--no-model", "--annotations", str(image_dir / "truth.json"), "--recover", "no"]
    )
    w = build_window(args, image_dir)
    w.ask_on_close = False
    qtbot.addWidget(w)
    rec = w.controller.project.records[0]
    assert rec.status == "pre-labelled" and len(rec.instances) > 0
    assert w.instance_list.count() == len(w.controller.visible_instances())
    assert "pre-labelled" in w.image_list.row_text(0, Qt.ItemDataRole.ToolTipRole)


def test_recovery_question_is_asked(image_dir, qtbot, monkeypatch):
    from istr_app.controller import load_project
    from istr_app.core import autosave
    from istr_app.core.document import Instance

    project, _ = load_project(image_dir, None)
    mask = np.zeros((96, 128), bool)
    mask[1:9, 1:9] = True
    project.records[1].instances.append(Instance(mask, 0))
    side = autosave.sidecar_path(image_dir, None)
    autosave.write_autosave(project, side)
    asked = []
    monkeypatch.setattr(
        "istr_app.ui.widgets.dialogs.ask_recover", lambda parent, path: asked.append(path) or False
    )
    w = build_window(parse_args([str(image_dir), "--no-model"]), image_dir)
    w.ask_on_close = False
    qtbot.addWidget(w)
    assert asked == [side] and not side.exists()  # declined: the sidecar is discarded
    assert w.controller.project.records[1].instances == []


KILLED_SESSION = """
import os, signal, sys
import numpy as np
from PySide6.QtWidgets import QApplication
from istr_app.main import build_window, parse_args
app = QApplication([])
folder = sys.argv[1]
w = build_window(parse_args([folder, "--no-model", "--recover", "no"]), __import__("pathlib").Path(folder))
mask = np.zeros((96, 128), bool)
mask[30:50, 60:90] = True
w.controller.add_mask(mask)
w.controller.flush_autosave()
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_kill_minus_9_loses_nothing(image_dir, qtbot):
    import os
    import subprocess
    import sys

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_SESSION, str(image_dir)],
        env=env,
        timeout=120,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -9, proc.stderr
    w = build_window(parse_args([str(image_dir), "--no-model", "--recover", "yes"]), image_dir)
    w.ask_on_close = False
    qtbot.addWidget(w)
    (inst,) = w.controller.project.records[0].instances
    assert inst.mask.sum() == 20 * 30 and inst.mask[40, 70]


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"istr-app {istr_core.__version__}"
