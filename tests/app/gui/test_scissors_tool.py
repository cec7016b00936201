"""The scissors tool end to end: anchors, paths along the edges (maps built in the background), the
last anchor removed, closing into a new instance (one undo step), Esc."""

import cv2
import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from istr_core.interactive import mask_iou

SQUARE = (30, 20, 90, 70)  # x0, y0, x1, y1 (end exclusive)


def square_image(path, shape=(96, 128)):
    """A bright square on a dark, slightly noisy background, written over an image of the project."""
    rng = np.random.default_rng(0)
    image = rng.integers(20, 40, (*shape, 3), dtype=np.uint8)
    x0, y0, x1, y1 = SQUARE
    image[y0:y1, x0:x1] = 215
    cv2.imwrite(str(path), image)
    truth = np.zeros(shape, bool)
    truth[y0:y1, x0:x1] = True
    return truth


def click(canvas, x, y, button=Qt.MouseButton.LeftButton):
    QTest.mouseClick(
        canvas.viewport(), button, Qt.KeyboardModifier.NoModifier, canvas.mapFromScene(QPointF(x, y))
    )


def wait_maps(qtbot, tool):
    qtbot.waitUntil(lambda: not tool.maps.busy, timeout=30000)


def test_anchors_follow_the_edges_undo_an_anchor_and_close(make_window, image_dir, qtbot):
    truth = square_image(sorted(image_dir.glob("*.png"))[0])
    w = make_window(image_dir, weights=False)
    c, canvas = w.controller, w.canvas
    QTest.keyClick(canvas, Qt.Key.Key_S)
    assert canvas.tool == "scissors" and w.actions_by_name["tool_scissors"].isChecked()
    tool = canvas.active
    for x, y in [(30, 20), (89, 20), (89, 69)]:
        click(canvas, x, y)
        wait_maps(qtbot, tool)
    assert tool.points == [(30, 20), (89, 20), (89, 69)] and all(s is not None for s in tool.segments)
    top, right = tool.segments
    assert np.abs(top[:, 1] - 20).max() <= 2 and np.abs(right[:, 0] - 89).max() <= 2
    canvas.tool_move(60, 69)  # the live path from the last anchor runs along the bottom edge
    live = tool._path(2, (60, 69))
    assert np.abs(live[:, 1] - 69).max() <= 2 and not canvas.draft_item.path().isEmpty()

    QTest.keyClick(canvas, Qt.Key.Key_Backspace)  # the last anchor, not an instance
    assert tool.points == [(30, 20), (89, 20)] and len(tool.segments) == 1
    assert c.record.instances == []
    canvas.tool_press(89, 69, Qt.MouseButton.RightButton)  # right-click: one more
    assert tool.points == [(30, 20)] and tool.segments == []
    for x, y in [(89, 20), (89, 69), (30, 69)]:
        click(canvas, x, y)
        wait_maps(qtbot, tool)
    click(canvas, 30.5, 20.5)  # on the first anchor: closes
    (inst,) = c.record.instances
    assert mask_iou(inst.mask, truth) > 0.9 and c.selection == [inst.id] and tool.points == []
    assert canvas.draft_item.path().isEmpty()

    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # no anchors: the instance
    assert c.record.instances == []


def test_enter_closes_as_soon_as_the_map_is_ready_double_click_and_escape(make_window, image_dir, qtbot):
    truth = square_image(sorted(image_dir.glob("*.png"))[0])
    w = make_window(image_dir, weights=False)
    c, canvas = w.controller, w.canvas
    canvas.set_tool("scissors")
    tool = canvas.active
    for x, y in [(30, 20), (89, 20), (89, 69), (30, 69)]:
        canvas.tool_press(x, y)
        canvas.tool_release(x, y)
    QTest.keyClick(canvas, Qt.Key.Key_Return)  # maps may still be building: it waits for them
    qtbot.waitUntil(lambda: len(c.record.instances) == 1, timeout=30000)
    assert mask_iou(c.record.instances[0].mask, truth) > 0.9 and not tool.closing

    for x, y in [(89, 20), (89, 69), (30, 69)]:  # the other way round this time
        canvas.tool_press(x, y)
        wait_maps(qtbot, tool)
    canvas.tool_press(30, 20)  # a double-click's first press adds an anchor, then it closes
    canvas.tool_double_click(30, 20)
    qtbot.waitUntil(lambda: len(c.record.instances) == 2, timeout=30000)
    assert mask_iou(c.record.instances[1].mask, truth) > 0.9

    canvas.tool_press(40, 40)
    QTest.keyClick(canvas, Qt.Key.Key_Escape)
    assert tool.points == [] and canvas.draft_item.path().isEmpty()
    wait_maps(qtbot, tool)
    assert tool.maps.maps == {}  # the map that was building for the dropped anchor is ignored
    canvas.tool_press(40, 40)
    QTest.keyClick(canvas, Qt.Key.Key_Return)  # one anchor: nothing to close
    assert len(c.record.instances) == 2
    canvas.set_tool("select")  # a tool change drops the drawing too
    assert tool.points == []
