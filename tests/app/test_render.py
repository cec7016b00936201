"""Overlay rendering: colours inside masks, opaque outlines, nothing outside."""

import numpy as np

from istr_app.core.document import Instance
from istr_app.ui.widgets.render import instance_colour, render_overlay


def test_overlay_fill_outline_and_selection():
    m = np.zeros((50, 60), bool)
    m[10:30, 20:40] = True
    a = Instance(m, 0)
    out = render_overlay((50, 60), [a], set())
    assert tuple(out[20, 30, :3]) == instance_colour(a.id) and 0 < out[20, 30, 3] < 255
    assert out[10, 20, 3] == 255 and out[0, 0, 3] == 0 and out[45, 5].sum() == 0
    sel = render_overlay((50, 60), [a], {a.id})
    assert sel[20, 30, 3] > out[20, 30, 3] and tuple(sel[10, 25, :3]) == (255, 255, 255)


def test_overlay_empty_and_mismatched_masks_are_skipped():
    out = render_overlay(
        (10, 10), [Instance(np.zeros((10, 10), bool), 0), Instance(np.ones((5, 5), bool), 0)], set()
    )
    assert not out.any()
