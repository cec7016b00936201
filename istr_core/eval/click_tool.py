"""The click tool that prices a fix or a missed object in clicks: istr-app's own click tool
(:class:`istr_core.interactive.ClickPredictor`) driven by the standard click protocol
(:class:`istr_core.interactive.Clicker`). The session benchmark and the GUI's pre-label gate both
count clicks with it."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..interactive import Clicker, ClickPredictor, mask_iou
from ..predict.segmenter import Segmenter
from .annotation_cost import ClickCounter


class ClickTool(Protocol):
    """``for_image(segmenter, image)`` returns how many clicks the tool needs, on that image with that
    model (None: the weight-free path), to bring a mask (or nothing) to the true mask."""

    def for_image(self, segmenter: Segmenter | None, image: np.ndarray) -> ClickCounter: ...


class InteractiveClickTool:
    """The click tool of istr-app with the given model (the session's current one; None, or
    ``use_model=False``: the weight-free path) driven by the standard click protocol: a missed object
    starts from nothing, a fix from the pre-label (its mask is the one being refined); clicks until
    mask IoU >= ``target``, None when ``max_clicks`` do not get there."""

    def __init__(self, target: float = 0.85, max_clicks: int = 20, use_model: bool = True):
        self.target, self.max_clicks, self.use_model = target, max_clicks, use_model

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

        return clicks_to_reach
