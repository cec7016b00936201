"""The session's click tool prices each object at the cheaper of clicks and scissors anchors."""

from __future__ import annotations

import numpy as np
import pytest

from istr_core.eval.annotation_cost import review_image
from istr_core.eval.click_tool import InteractiveClickTool, cheaper, scissors_anchors


def box(x0, y0, x1, y1, shape=(60, 60)):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


EASY, HARD, NEVER, BOTH = box(2, 2, 12, 12), box(20, 2, 40, 12), box(2, 30, 12, 40), box(30, 30, 50, 50)


def test_each_object_costs_the_fewer_of_clicks_and_anchors():
    clicks = {id(EASY): 1, id(HARD): 12, id(NEVER): None, id(BOTH): None}
    anchors = {id(EASY): 4, id(HARD): 5, id(NEVER): 6, id(BOTH): None}
    asked = []

    def anchor_counter(start, truth, most):
        asked.append((id(truth), most))
        n = anchors[id(truth)]
        return n if n is not None and n <= most else None

    count = cheaper(lambda start, truth: clicks[id(truth)], anchor_counter, 20)
    assert [count(None, m) for m in (EASY, HARD, NEVER, BOTH)] == [1, 5, 6, None]
    # one click: the scissors are never asked; 12 clicks: asked for at most 11 anchors
    assert asked == [(id(HARD), 11), (id(NEVER), 20), (id(BOTH), 20)]

    # in a review: the clicks' misses cost anchors (2 s each), not 79 s polygons
    r = review_image([], [], [EASY, HARD, NEVER, BOTH], clicks_to_reach=count)
    assert (r.missed, r.clicks, r.polygons) == (4, 1 + 5 + 6, 1)
    assert r.seconds == pytest.approx(2 * 12 + 79)
    clicks_only = review_image([], [], [EASY, HARD, NEVER, BOTH], clicks_to_reach=lambda s, t: clicks[id(t)])
    assert clicks_only.seconds == pytest.approx(2 * (1 + 12) + 79 * 2)


def test_a_tie_or_more_anchors_keeps_the_clicks():
    count = cheaper(lambda s, t: 5, lambda s, t, most: 5, 20)  # a counter that ignores its cap
    assert count(None, EASY) == 5
    assert cheaper(lambda s, t: 3, lambda s, t, most: 1 / 0, 20)(None, EASY) == 3  # never asked


def test_scissors_anchors_on_a_bright_square_and_a_fix_pays_the_deletion():
    image = np.full((60, 60, 3), 30, np.uint8)
    image[30:50, 30:50] = 220
    anchors = scissors_anchors(image, 0.85)
    n = anchors(None, BOTH, 20)
    assert n is not None and n <= 4
    assert anchors(EASY, BOTH, 20) == n + 1  # replacing a pre-label: delete it first
    assert anchors(EASY, BOTH, n) is None


def test_the_session_tool_prices_what_clicks_cannot_get_by_anchors(monkeypatch):
    """A click tool that never finds the object (its masks stay empty): with the scissors (the
    default) the bright square costs its anchors; without, it is missed (a 79 s polygon)."""
    from istr_core.interactive import ClickPredictor

    monkeypatch.setattr(ClickPredictor, "predict", lambda self, clicks, *a, **k: np.zeros((60, 60), bool))
    image = np.full((60, 60, 3), 30, np.uint8)
    image[30:50, 30:50] = 220
    assert InteractiveClickTool(scissors=False).for_image(None, image)(None, BOTH) is None
    n = InteractiveClickTool().for_image(None, image)(None, BOTH)
    assert n is not None and n <= 4
    assert InteractiveClickTool().for_image(None, image)(EASY, BOTH) == n + 1  # a fix: delete, then draw
