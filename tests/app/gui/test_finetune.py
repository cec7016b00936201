"""Close the loop: fine-tune on reviewed images in the worker, reload, re-pre-label the rest."""

import numpy as np


def test_finetune_on_reviewed_then_reload_and_prelabel(make_window, image_dir, qtbot, tmp_path):
    w = make_window(image_dir, "--no-online")  # the batch button alone (online learning: test_online.py)
    c = w.controller
    assert not w.jobs.finetune(2)  # nothing reviewed yet: refused with a message
    mask = np.zeros((96, 128), bool)
    mask[10:40, 10:50] = True
    c.add_mask(mask)
    c.accept_all()
    assert w.jobs.finetune(2, out_dir=tmp_path)
    with qtbot.waitSignal(w.jobs.ended, timeout=60000) as blocker:
        pass
    kind, result = blocker.args
    assert kind == "finetune" and result.checkpoint.is_file() and result.iterations >= 1
    w.after_finetune(result, reload=True)
    assert c.weights == result.checkpoint and w.jobs.busy
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=30000)
    statuses = [r.status for r in c.project.records]
    assert statuses[0] == "reviewed" and statuses[1:] == ["pre-labelled", "pre-labelled"]
    assert c.project.records[0].instances[0].source == "human"  # reviewed work untouched


def test_finetune_cancel(make_window, image_dir, qtbot, tmp_path):
    w = make_window(image_dir, "--no-online")
    mask = np.zeros((96, 128), bool)
    mask[10:40, 10:50] = True
    w.controller.add_mask(mask)
    w.controller.accept_all()
    assert w.jobs.finetune(500, out_dir=tmp_path)
    w.jobs.cancel()
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=60000)
