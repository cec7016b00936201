"""Online learning in the window: reviewed images start rounds, a finished round swaps the model,
pausing stops training, closing ends the trainer (issue: annotator seconds per object)."""

import numpy as np

from istr_app.core.document import PRELABELLED, REVIEWED


def review_first_image(window):
    c = window.controller
    mask = np.zeros(c.image.shape[:2], bool)
    mask[10:40, 20:60] = True
    c.add_mask(mask)
    c.accept_all()
    assert c.record.status == REVIEWED


def test_online_loop_round_swap_pause_and_close(make_window, image_dir, qtbot):
    w = make_window(image_dir, "--online-steps", "2")
    c, loop = w.controller, w.online
    assert loop is not None and not loop.running and "mark an image reviewed" in w.online_label.text()
    first_model = c.segmenter
    with qtbot.waitSignal(loop.model_ready, timeout=60000):
        review_first_image(w)
    assert loop.running
    qtbot.waitUntil(lambda: c.segmenter is not first_model, timeout=5000)
    assert w.online_round.round >= 1 and w.online_round.images == 1
    assert "learned from 1 images" in w.online_label.text()
    # the next image was pre-labelled ahead with a model
    qtbot.waitUntil(lambda: c.project.records[1].status == PRELABELLED, timeout=30000)

    w.actions_by_name["pause_learning"].trigger()
    assert loop.paused and w.online_label.text() == "learning paused"
    qtbot.waitUntil(lambda: loop.state == "paused", timeout=30000)
    step = loop.trainer.step
    qtbot.wait(1500)
    assert loop.trainer.step == step  # paused: no training

    w.actions_by_name["pause_learning"].trigger()
    assert not loop.paused
    qtbot.waitUntil(lambda: loop.trainer.step > step, timeout=60000)

    w.close()
    assert not loop.running  # the trainer thread ended with the window
    assert (image_dir / ".istr_models" / "online.pt").is_file()  # its state kept for next time


def test_no_online_flag_and_no_model_mean_no_loop(make_window, image_dir):
    assert make_window(image_dir, "--no-online").online is None
    assert make_window(image_dir, weights=False).online is None
