"""Load (issue 6): 10,000 images in the list and 300 instances on one image stay cheap per action.

Frame times are measured by benchmarks/gui_load.py; these tests pin the behaviour that keeps them
flat: work per action must not grow with the folder or with the untouched instances."""

import json
import shutil

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from istr_app.core import project_io
from istr_app.main import build_window, parse_args
from istr_app.ui.widgets import panels, render

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture
def big_folder(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    first = folder / "img_00000.png"
    cv2.imwrite(str(first), np.full((12, 16, 3), 90, np.uint8))
    for i in range(1, 10_000):
        shutil.copyfile(first, folder / f"img_{i:05d}.png")
    return folder


def circles_coco(width: int, height: int, count: int) -> dict:
    anns, cols = [], 20
    for k in range(count):
        cx, cy = 8 + 16 * (k % cols), 8 + 16 * (k // cols)
        t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
        poly = np.stack([cx + 6 * np.cos(t), cy + 6 * np.sin(t)], 1).ravel().round(1).tolist()
        anns.append(
            {
                "id": k + 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [poly],
                "bbox": [cx - 6, cy - 6, 12, 12],
                "area": 113.0,
                "iscrowd": 0,
                "score": 0.9,
            }
        )
    return {
        "images": [{"id": 1, "file_name": "img_00000.png", "width": width, "height": height}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "object"}],
    }


def open_window(qtbot, folder, *extra):
    w = build_window(parse_args([str(folder), "--no-model", "--recover", "no", *extra]), folder)
    w.ask_on_close = False
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_ten_thousand_images_cost_per_action_does_not_grow(big_folder, qtbot, monkeypatch):
    reads = []
    real_read = __import__("istr_app.controller", fromlist=["read_image"]).read_image
    monkeypatch.setattr("istr_app.controller.read_image", lambda p: reads.append(p) or real_read(p))
    w = open_window(qtbot, big_folder)
    c = w.controller
    assert w.image_list.list_model.rowCount() == 10_000 and len(reads) == 1  # only the shown image is decoded

    w.image_list.setCurrentRow(9_999)  # a click on the last row
    assert c.current == 9_999 and c.record.key == "img_09999.png" and len(reads) == 2

    queried = []
    real_data = panels.ImageListModel.data
    monkeypatch.setattr(
        panels.ImageListModel,
        "data",
        lambda self, i, role=Qt.ItemDataRole.DisplayRole: queried.append(i.row()) or real_data(self, i, role),
    )
    c.add_mask(np.pad(np.ones((4, 4), bool), ((2, 6), (2, 10))))
    w.slider.setValue(50)
    qtbot.wait(20)
    assert "(1)" in w.image_list.row_text(9_999)
    assert queried and len(set(queried)) < 200  # only rows on screen are re-read, not 10,000


def test_three_hundred_instances_recompute_only_what_changed(tmp_path, qtbot, monkeypatch):
    folder = tmp_path / "one"
    folder.mkdir()
    cv2.imwrite(str(folder / "img_00000.png"), np.full((256, 320, 3), 90, np.uint8))
    anns = tmp_path / "anns.json"
    anns.write_text(json.dumps(circles_coco(320, 256, 300)))
    w = open_window(qtbot, folder, "--annotations", str(anns), "--threshold", "0.05")
    c = w.controller
    qtbot.waitUntil(lambda: w.canvas.overlay_rgba is not None)
    assert len(c.visible_instances()) == 300

    scans, encodes = [], []
    real_rect, real_encode = render.cv2.boundingRect, project_io.encode_mask
    monkeypatch.setattr(render.cv2, "boundingRect", lambda m: scans.append(1) or real_rect(m))
    monkeypatch.setattr(project_io, "encode_mask", lambda m: encodes.append(1) or real_encode(m))
    renders = []
    real_refresh = w.canvas.refresh_overlay
    monkeypatch.setattr(w.canvas, "refresh_overlay", lambda: renders.append(1) or real_refresh())

    first = c.visible_instances()[0]
    c.select([first.id])
    c.brush_radius = 3
    c.paint([(8, 8), (20, 8)])
    c.flush_autosave()
    qtbot.waitUntil(lambda: len(renders) >= 1)
    qtbot.wait(20)
    assert len(renders) == 1  # one edit, several change signals, one overlay rebuild
    assert len(scans) == 1  # only the edited mask is re-measured for the overlay
    assert len(encodes) == 1  # and re-encoded for the autosave (the file's masks kept their RLE)
    assert w.canvas.overlay_rgba[8, 20, 3] > 0 and w.instance_list.count() == 300
