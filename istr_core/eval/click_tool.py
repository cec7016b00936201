"""The click tool that prices a fix or a missed object in clicks: istr-app's own click tool
(:class:`istr_core.interactive.ClickPredictor`) driven by the standard click protocol
(:class:`istr_core.interactive.Clicker`), or istr-app's edge-snapping polygon
(:class:`istr_core.interactive.Scissors`, an anchor for the price of a click) where that is cheaper.
The session benchmark and the GUI's pre-label gate both count clicks with it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from ..interactive import Clicker, ClickPredictor, Scissors, anchors_to_reach, mask_iou
from ..predict.segmenter import Segmenter
from .annotation_cost import ClickCounter

MIN_ANCHORS = 3  # a polygon's fewest: an object clicked in 3 or fewer is never drawn with the scissors
# anchors(start mask or None, true mask, most) -> anchors needed, None when more than ``most``
AnchorCounter = Callable[[np.ndarray | None, np.ndarray, int], int | None]


class ClickTool(Protocol):
    """``for_image(segmenter, image)`` returns how many clicks the tool needs, on that image with that
    model (None: the weight-free path), to bring a mask (or nothing) to the true mask."""

    def for_image(self, segmenter: Segmenter | None, image: np.ndarray) -> ClickCounter: ...


class InteractiveClickTool:
    """The click tool of istr-app with the given model (the session's current one; None, or
    ``use_model=False``: the weight-free path) driven by the standard click protocol: a missed object
    starts from nothing, a fix from the pre-label (its mask is the one being refined); clicks until
    mask IoU >= ``target``, None when ``max_clicks`` do not get there. With ``scissors`` (the
    default), an object is priced at the fewer of those clicks and the anchors of the edge-snapping
    polygon (:func:`scissors_anchors`), so an object the clicks cannot get costs anchors, not a
    polygon drawn by hand."""

    def __init__(
        self, target: float = 0.85, max_clicks: int = 20, use_model: bool = True, scissors: bool = True
    ):
        self.target, self.max_clicks, self.use_model = target, max_clicks, use_model
        self.scissors = scissors

    def for_image(self, segmenter: Segmenter | None, image: np.ndarray) -> ClickCounter:
        predictor = ClickPredictor(segmenter if self.use_model else None)
        predictor.set_image(image)

        def clicks_to_reach(start: np.ndarray | None, truth: np.ndarray) -> int | None:
            clicker, pred = Clicker(truth), start
            for k in range(1, self.max_clicks + 1):
                if clicker.next_click(pred) is None:
                    return k - 1
                pred = predictor.predict(list(clicker.clicks), prev_mask=start)
                if mask_iou(pred, truth) >= self.target:
                    return k
            return None

        if not self.scissors:
            return clicks_to_reach
        return cheaper(clicks_to_reach, scissors_anchors(image, self.target), self.max_clicks)


def scissors_anchors(image: np.ndarray, target: float = 0.85) -> AnchorCounter:
    """Anchors the simulated annotator places on ``image`` until the edge-snapping polygon reaches
    ``target`` (:func:`istr_core.interactive.anchors_to_reach`); a fix counts one more, for deleting
    the pre-label the new polygon replaces."""
    scissors = Scissors(image)

    def anchors(start: np.ndarray | None, truth: np.ndarray, most: int) -> int | None:
        extra = 0 if start is None else 1
        n = anchors_to_reach(scissors, truth, target, most - extra)
        return None if n is None else n + extra

    return anchors


def cheaper(clicks: ClickCounter, anchors: AnchorCounter, max_count: int) -> ClickCounter:
    """The fewer of ``clicks`` and ``anchors`` per object (the clicks on a tie). The anchors are
    asked only when they could be fewer, and only up to one fewer than the clicks (the scissors
    simulation is the slower), so objects that take a click or two cost no more to price."""

    def count(start: np.ndarray | None, truth: np.ndarray) -> int | None:
        n = clicks(start, truth)
        most = max_count if n is None else min(n - 1, max_count)
        if most < MIN_ANCHORS:
            return n
        a = anchors(start, truth, most)
        return a if a is not None and (n is None or a < n) else n

    return count
