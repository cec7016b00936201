"""The click tool end to end: clicks -> mask (in the background), undo of a click, accept as a new
instance, refine of a selected pre-label, Esc; with and without a model."""

import cv2
import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from istr_app.core.document import MODEL, Instance
from istr_app.core.edits import AddInstances


def disc_image(path, shape=(96, 128), centre=(60, 48), radius=22):
    """A bright disc on a dark, slightly noisy background, written over an image of the project."""
    rng = np.random.default_rng(0)
    image = rng.integers(20, 40, (*shape, 3), dtype=np.uint8)
    cv2.circle(image, centre, radius, (210, 200, 190), -1)
    cv2.imwrite(str(path), image)
    truth = np.zeros(shape, np.uint8)
    cv2.circle(truth, centre, radius, 1, -1)
    return truth.astype(bool)


def wait_mask(qtbot, tool):
    qtbot.waitUntil(lambda: not tool.busy and tool.mask is not None, timeout=30000)
    return tool.mask


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_clicks_undo_accept_escape(make_window, image_dir, qtbot):
    truth = disc_image(sorted(image_dir.glob("*.png"))[0])
    w = make_window(image_dir, weights=False)
    c, canvas = w.controller, w.canvas
    QTest.keyClick(canvas, Qt.Key.Key_C)
    assert canvas.tool == "click"
    tool = canvas.clicks
    vp = canvas.viewport()
    QTest.mouseClick(
        vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, canvas.mapFromScene(QPointF(60, 48))
    )
    mask = wait_mask(qtbot, tool)
    assert iou(mask, truth) > 0.9 and [p.is_positive for p in tool.clicks] == [True]
    assert not canvas.tools["click"].point_items[1].path().isEmpty()  # the positive point is drawn
    # a negative click (right button) inside the disc carves a hole around it
    canvas.tool_press(60, 48, Qt.MouseButton.RightButton)
    qtbot.waitUntil(lambda: not tool.busy and not tool.mask[48, 60], timeout=30000)
    assert [p.is_positive for p in tool.clicks] == [True, False]
    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # removes the click only
    qtbot.waitUntil(lambda: not tool.busy and tool.mask[48, 60], timeout=30000)
    assert len(tool.clicks) == 1 and c.record.instances == []
    QTest.keyClick(canvas, Qt.Key.Key_Return)
    (inst,) = c.record.instances
    assert iou(inst.mask, truth) > 0.9 and c.selection == [inst.id] and not tool.pending
    # Esc drops a pending click; Ctrl+Z with nothing pending undoes the accepted instance
    canvas.tool_press(5, 5)
    canvas.tool_release(5, 5)
    QTest.keyClick(canvas, Qt.Key.Key_Escape)
    assert not tool.pending and tool.mask is None
    QTest.keyClick(canvas, Qt.Key.Key_Return)  # nothing to accept: no new instance
    assert len(c.record.instances) == 1
    w.on_undo()
    assert c.record.instances == []


def test_refine_a_prelabel_with_clicks(make_window, image_dir, qtbot):
    truth = disc_image(sorted(image_dir.glob("*.png"))[0])
    w = make_window(image_dir, weights=False)
    c, canvas = w.controller, w.canvas
    half = truth.copy()
    half[:, 60:] = False  # a pre-label that misses the right half
    pred = Instance(half, 0, 0.9, MODEL)
    c.execute(AddInstances(c.record.key, [pred]))
    c.select([pred.id])
    canvas.set_tool("click")
    tool = canvas.clicks
    assert tool.target_id == pred.id and tool.mask is not None
    canvas.tool_press(75, 48, modifiers=Qt.KeyboardModifier.NoModifier)
    canvas.tool_release(75, 48)
    wait_mask(qtbot, tool)
    qtbot.waitUntil(lambda: not tool.busy and tool.mask[48, 75], timeout=30000)
    assert tool.accept()
    assert c.record.instances == [pred] and iou(pred.mask, truth) > 0.9 and pred.accepted
    c.undo()
    assert np.array_equal(pred.mask, half)


def test_box_drag_and_model_path(make_window, image_dir, qtbot):
    truth = disc_image(sorted(image_dir.glob("*.png"))[0])
    w = make_window(image_dir)  # the tiny, untrained model: runs, and the clicks still hold
    c, canvas = w.controller, w.canvas
    canvas.set_tool("click")
    tool = canvas.clicks
    canvas.tool_press(30, 20)
    canvas.tool_move(60, 50)
    canvas.tool_release(92, 76)
    assert tool.box == (30, 20, 92, 76) and tool.clicks == []
    wait_mask(qtbot, tool)
    canvas.tool_press(60, 48)
    canvas.tool_release(60, 48)
    canvas.tool_press(5, 90, modifiers=Qt.KeyboardModifier.ShiftModifier)
    canvas.tool_release(5, 90)
    assert [p.is_positive for p in tool.clicks] == [True, False]
    qtbot.waitUntil(lambda: not tool.busy and tool.mask is not None, timeout=30000)
    mask = tool.mask
    assert mask[48, 60] and not mask[90, 5] and iou(mask, truth) > 0.5
    QTest.keyClick(canvas, Qt.Key.Key_Return)
    assert len(c.record.instances) == 1
