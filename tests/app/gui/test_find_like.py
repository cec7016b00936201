"""Find objects like these (Ctrl+F): the objects on an image found again in the rest of it, with no
model, added as pre-labels the slider filters and one undo removes."""

from __future__ import annotations

import cv2
import numpy as np


def discs_folder(tmp_path):
    folder = tmp_path / "discs"
    folder.mkdir()
    rng = np.random.default_rng(3)
    grey = rng.normal(60, 6, (140, 180)).clip(0, 255).astype(np.uint8)
    masks = []
    for x, y in [(30, 30), (90, 40), (150, 30), (40, 100), (110, 110), (160, 100)]:
        m = np.zeros(grey.shape, np.uint8)
        cv2.circle(m, (x, y), 9, 1, -1)
        masks.append(m.astype(bool))
        grey[m.astype(bool)] = 200
    cv2.imwrite(str(folder / "a.png"), grey)
    return folder, masks


def iou(a, b):
    return np.count_nonzero(a & b) / np.count_nonzero(a | b)


def test_objects_like_the_drawn_ones_are_found_in_the_rest_of_the_image(make_window, tmp_path, qtbot):
    folder, truth = discs_folder(tmp_path)
    w = make_window(folder, weights=False)  # no model needed
    c = w.controller
    assert "Ctrl+F" in w.actions_by_name["find_like"].shortcut().toString()
    w.actions_by_name["find_like"].trigger()  # nothing drawn yet: nothing to look like
    assert w.jobs.find_worker is None and not c.record.instances
    for mask in truth[:2]:
        c.add_mask(mask, 0)
    w.actions_by_name["find_like"].trigger()
    qtbot.waitUntil(lambda: w.jobs.find_worker is None, timeout=60000)
    found = [i for i in c.visible_instances() if i.source == "model"]
    assert len(c.visible_instances()) == 6 and len(found) == 4  # the other four, each once
    for mask in truth[2:]:
        assert max(iou(i.mask, mask) for i in found) >= 0.85
    assert all(i.label == 0 and 0 < i.score <= 1 for i in found)
    c.undo()  # one step removes them all, the drawn ones stay
    assert len(c.visible_instances()) == 2


def test_objects_found_inside_ones_made_during_the_search_are_not_added(make_window, tmp_path):
    from istr_core.structures import Prediction

    folder, truth = discs_folder(tmp_path)
    c = make_window(folder, weights=False).controller
    c.add_mask(truth[0], 0)  # made while the search ran
    found = [Prediction(m, (0, 0, 1, 1), 0, 0.9) for m in truth[:3]]
    assert c.add_found(c.record.key, found) == 2
    assert len(c.visible_instances()) == 3
