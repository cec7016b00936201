"""End-to-end GUI tests driving real widgets offscreen: pre-label, edit, undo/redo, save, reload."""

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from istr_app.controller import load_project
from istr_app.core.document import PRELABELLED, REVIEWED
from istr_app.core.geometry import polygon_mask
from istr_app.ui.main_window import ACTIONS, shortcut_table
from istr_app.ui.widgets.dialogs import HelpDialog


def click(canvas, x, y, button=Qt.MouseButton.LeftButton):
    QTest.mouseClick(
        canvas.viewport(), button, Qt.KeyboardModifier.NoModifier, canvas.mapFromScene(QPointF(x, y))
    )


def test_prelabel_all_and_threshold(make_window, image_dir, qtbot):
    w = make_window(image_dir)
    c = w.controller
    assert len(c.project.records) == 3 and c.image.shape == (96, 128, 3)
    w.on_prelabel_all()
    assert w.jobs.busy and w.cancel_button.isVisibleTo(w)
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=30000)
    assert all(r.status == PRELABELLED for r in c.project.records) and c.current == 0
    total = len(c.record.instances)
    assert total > 0 and all(i.score >= 0.05 for i in c.record.instances)
    w.slider.setValue(5)
    assert len(c.visible_instances()) == total
    w.slider.setValue(100)
    assert len(c.visible_instances()) == sum(i.score >= 1.0 for i in c.record.instances)
    assert w.instance_list.count() == len(c.visible_instances())
    w.slider.setValue(5)
    pred = c.record.instances[0]
    c.select([pred.id])
    c.brush_radius = 2
    c.paint([(5, 5)])
    assert pred.accepted  # a human edit accepts the prediction ...
    w.on_prelabel()
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=30000)
    assert c.record.find(pred.id) is pred  # ... so re-pre-labelling keeps it


def test_cancel_prelabel(make_window, image_dir, qtbot):
    w = make_window(image_dir)
    w.on_prelabel_all()
    w.jobs.cancel()
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=30000)
    assert not w.progress.isVisibleTo(w)


def test_polygon_brush_eraser_undo_redo_save_reload(make_window, image_dir, qtbot, tmp_path):
    w = make_window(image_dir, weights=False)
    c, canvas = w.controller, w.canvas
    QTest.keyClick(w.canvas, Qt.Key.Key_P)
    assert canvas.tool == "polygon"
    pts = [(20, 20), (60, 20), (60, 50), (20, 50)]
    for x, y in pts:
        click(canvas, x, y)
    QTest.keyClick(canvas, Qt.Key.Key_Return)
    (inst,) = c.record.instances
    expected = polygon_mask((96, 128), pts)
    assert (inst.mask != expected).sum() <= 0.03 * expected.sum() and c.selection == [inst.id]

    w.actions_by_name["tool_brush"].trigger()
    c.brush_radius = 4
    canvas.tool_press(70, 30)
    canvas.tool_move(90, 30)
    canvas.tool_release(100, 30)
    after_brush = inst.mask.copy()
    assert after_brush[30, 95] and after_brush[30, 70] and after_brush.sum() > expected.sum()

    w.actions_by_name["tool_eraser"].trigger()
    canvas.tool_press(40, 10)
    canvas.tool_move(40, 60)
    canvas.tool_release(40, 70)
    assert not inst.mask[35, 40] and inst.mask[35, 25]
    after_erase = inst.mask.copy()

    w.on_undo()
    assert np.array_equal(inst.mask, after_brush)
    QTest.keyClick(w.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not np.array_equal(inst.mask, after_brush)
    w.on_redo()
    w.on_redo()
    assert np.array_equal(inst.mask, after_erase)

    out = c.save(tmp_path / "saved.json")
    assert not c.autosave_path.exists()
    project, warnings = load_project(image_dir, out)
    (loaded,) = project.records[0].instances
    assert warnings == [] and np.array_equal(loaded.mask, after_erase)


def test_vertex_drag_insert_delete(make_window, image_dir, qtbot):
    w = make_window(image_dir, weights=False)
    c, canvas = w.controller, w.canvas
    square = np.zeros((96, 128), bool)
    square[20:60, 30:80] = True
    square[35:45, 45:60] = False  # hole survives vertex edits
    inst = c.add_mask(square)
    canvas.set_tool("vertex")
    (poly,) = canvas.vertex.polys
    corner = poly[np.argmax(poly.sum(1))]
    canvas.tool_press(*corner)
    canvas.tool_move(95, 80)
    canvas.tool_release(100, 85)
    assert inst.mask[75, 90] and not inst.mask[40, 50]
    n = len(canvas.vertex.polys[0])
    canvas.tool_double_click(55, 20)  # on the top edge
    assert len(canvas.vertex.polys[0]) == n + 1
    canvas.tool_press(55, 20, Qt.MouseButton.RightButton)
    assert len(canvas.vertex.polys[0]) == n
    c.undo()
    assert np.array_equal(inst.mask, square)
    canvas.vertex.reload()
    assert len(canvas.vertex.polys[0]) == 4


def test_box_tool_grabcut_select_class_accept_all(make_window, image_dir, qtbot):
    w = make_window(image_dir, weights=False)
    c, canvas = w.controller, w.canvas
    c.image[:] = 30
    c.image[30:60, 40:80] = 220
    canvas.set_tool("box")
    canvas.tool_press(30, 20)
    canvas.tool_move(60, 50)
    canvas.tool_release(90, 70)
    qtbot.waitUntil(lambda: len(c.record.instances) == 1, timeout=10000)
    (inst,) = c.record.instances
    assert inst.mask[45, 60] and not inst.mask[22, 32]
    assert "running" not in w.status_label.text()  # the status line says it is done
    c.select([])
    canvas.set_tool("select")
    click(canvas, 60, 45)
    assert c.selection == [inst.id]
    c.add_class("cell")
    w._on_indexed("class_2")
    assert c.project.class_names[inst.label] == "cell"
    QTest.keyClick(w.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert c.record.status == REVIEWED
    QTest.keyClick(w.canvas, Qt.Key.Key_Delete)
    assert c.record.instances == []
    QTest.keyClick(w.canvas, Qt.Key.Key_D)
    assert c.current == 1
    QTest.keyClick(w.canvas, Qt.Key.Key_A)
    assert c.current == 0


def test_help_lists_every_action_and_no_duplicate_keys(make_window, image_dir):
    w = make_window(image_dir, weights=False)
    keys = [k for _, _, ks in ACTIONS for k in ks]
    assert len(keys) == len(set(keys))
    from PySide6.QtWidgets import QTableWidget

    dialog = HelpDialog(shortcut_table(), w)
    table = dialog.findChild(QTableWidget)
    texts = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert "F1" in texts and "Ctrl+Z" in texts and "[" in texts and table.rowCount() == len(shortcut_table())
    assert all(a.shortcuts() for a in w.actions_by_name.values())


def test_real_mouse_events_brush_zoom_pan(make_window, image_dir, qtbot):
    w = make_window(image_dir, weights=False)
    c, canvas = w.controller, w.canvas
    canvas.set_tool("brush")
    c.brush_radius = 3
    vp, pos = canvas.viewport(), lambda x, y: canvas.mapFromScene(QPointF(x, y))
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos(20, 20))
    QTest.mouseMove(vp, pos(40, 20))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos(60, 20))
    (inst,) = c.record.instances
    assert inst.mask[20, 20] and inst.mask[20, 40] and inst.mask[20, 58] and not inst.mask[40, 40]
    before = canvas.transform().m11()
    w.on_zoom_in()
    w.on_zoom_in()
    assert canvas.transform().m11() > before
    sb = canvas.horizontalScrollBar()
    start = sb.value()
    QTest.mousePress(vp, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, pos(60, 40))
    QTest.mouseMove(vp, pos(40, 40))
    QTest.mouseRelease(vp, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, pos(40, 40))
    assert sb.value() != start or sb.maximum() == 0
    assert len(c.record.instances) == 1  # panning drew nothing
    w.on_fit()
    shown = canvas.mapFromScene(canvas.sceneRect()).boundingRect()
    assert canvas.viewport().rect().adjusted(-2, -2, 2, 2).contains(shown)
    assert canvas.transform().m11() < before * 1.25


def test_empty_folder_and_unreadable_image_do_not_crash(make_window, image_dir, tmp_path, qtbot):
    empty = tmp_path / "empty"
    empty.mkdir()
    w = make_window(empty)
    for name in ("next", "prev", "prelabel", "prelabel_all", "accept_all", "delete", "undo", "redo", "fit"):
        w.actions_by_name[name].trigger()
    w.canvas.tool_press(3, 3)
    assert w.controller.record is None
    (image_dir / "zz_broken.jpg").write_bytes(b"not an image")
    w2 = make_window(image_dir)
    w2.controller.set_current(3)
    assert w2.controller.image is None and "zz_broken.jpg" in w2.status_label.text()
    w2.canvas.set_tool("brush")
    w2.canvas.tool_press(3, 3)
    w2.canvas.tool_release(5, 5)
    w2.on_prelabel_all()
    qtbot.waitUntil(lambda: not w2.jobs.busy, timeout=30000)
    assert w2.controller.project.records[3].instances == []


def test_undo_jumps_back_to_the_edited_image(make_window, image_dir):
    w = make_window(image_dir, weights=False)
    c = w.controller
    mask = np.zeros((96, 128), bool)
    mask[0:10, 0:10] = True
    inst = c.add_mask(mask)
    QTest.keyClick(w.canvas, Qt.Key.Key_PageDown)
    assert c.current == 1
    QTest.keyClick(w.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert c.current == 0 and c.record.instances == []
    QTest.keyClick(
        w.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert c.record.instances == [inst]
    assert w.image_list.currentRow() == 0 and "(1)" in w.image_list.row_text(0)


def test_panels_select_and_relabel(make_window, image_dir):
    w = make_window(image_dir, weights=False)
    c = w.controller
    a = np.zeros((96, 128), bool)
    a[0:10, 0:10] = True
    b = np.zeros((96, 128), bool)
    b[50:60, 50:60] = True
    ia, ib = c.add_mask(a), c.add_mask(b)
    c.add_class("cat")
    c.add_class("ring")
    assert w.instance_list.count() == 2 and w.class_panel.list.count() == 3
    w.instance_list.item(0).setSelected(True)
    w.instance_list.item(1).setSelected(False)
    assert c.selection == [ia.id]
    item = w.class_panel.list.item(2)
    w.class_panel.list.itemClicked.emit(item)
    assert ia.label == 2 and ib.label == 0 and c.current_class == 2
    assert "ring" in w.instance_list.item(0).text()
    c.select([ib.id])
    assert [i.isSelected() for i in (w.instance_list.item(0), w.instance_list.item(1))] == [False, True]


def test_masks_of_the_wrong_size_are_hidden_not_fatal(make_window, image_dir, qtbot):
    from istr_app.core.document import Instance

    w = make_window(image_dir, weights=False)
    c = w.controller
    bad = Instance(np.ones((128, 96), bool), 0)  # transposed: e.g. EXIF rotation not applied
    c.project.records[1].instances.append(bad)
    c.set_current(1)
    assert "do not match" in w.status_label.text()
    c.select([bad.id])
    c.paint([(5, 5)])
    c.paint([(5, 5)], erase=True)
    assert bad.mask.all() and w.canvas.overlay_rgba is not None
