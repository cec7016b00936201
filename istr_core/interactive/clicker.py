"""The standard click protocol (RITM / SimpleClick): a ``Click`` value and a ``Clicker`` that places
the next click where the current mask is most wrong.

Kept apart from any predictor so the benchmark, the tests and an annotator simulation all count
clicks the same way: the first click is positive, at the point deepest inside the object; each next
click goes to the pixel deepest inside the larger error region (distance transform), positive in a
missed region, negative in a wrongly included one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Click:
    """One user click in image pixels (x right, y down); ``is_positive``: on the object."""

    is_positive: bool
    x: float
    y: float


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (H, W) bool masks; two empty masks count as a perfect match."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _deepest_point(region: np.ndarray) -> tuple[float, tuple[int, int]]:
    """(distance to the region's border, (x, y) of the deepest pixel) of a bool region; pixels on
    the image border count as next to the outside, as in RITM (padding before the transform)."""
    padded = np.pad(region.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(dist[y, x]), (int(x), int(y))


class Clicker:
    """Simulates an annotator who always clicks the centre of the largest error.

    ``gt``: (H, W) bool target mask. ``next_click(pred)`` returns the click for the current
    prediction (None when the prediction is already perfect) and records it in ``clicks``.
    """

    def __init__(self, gt: np.ndarray):
        self.gt = gt.astype(bool)
        self.clicks: list[Click] = []

    def next_click(self, pred: np.ndarray | None = None) -> Click | None:
        pred = np.zeros_like(self.gt) if pred is None else pred.astype(bool)
        missed, extra = self.gt & ~pred, pred & ~self.gt
        d_fn, (xf, yf) = _deepest_point(missed) if missed.any() else (0.0, (0, 0))
        d_fp, (xp, yp) = _deepest_point(extra) if extra.any() else (0.0, (0, 0))
        if d_fn == 0.0 and d_fp == 0.0:
            return None
        click = Click(True, xf, yf) if d_fn >= d_fp else Click(False, xp, yp)
        self.clicks.append(click)
        return click


def clicks_to_reach(ious: list[float], target: float, max_clicks: int = 20) -> int:
    """NoC: the 1-based number of clicks after which IoU first reached ``target``; ``max_clicks``
    when never (the protocol's convention, so misses still weigh in the average)."""
    for k, iou in enumerate(ious[:max_clicks]):
        if iou >= target:
            return k + 1
    return max_clicks


def simulate(
    predict, gt: np.ndarray, max_clicks: int = 20, stop_at: float = 1.0, start: np.ndarray | None = None
) -> list[float]:
    """Run the protocol: ``predict(clicks) -> mask`` after every click; returns the IoU after each
    click (at most ``max_clicks``; stops early once IoU >= ``stop_at``, or when the mask is perfect).
    ``start``: the mask the first click corrects (a box's, a pre-label's); default nothing."""
    clicker, pred, ious = Clicker(gt), start, []
    for _ in range(max_clicks):
        if clicker.next_click(pred) is None:
            break
        pred = predict(list(clicker.clicks))
        ious.append(mask_iou(pred, gt))
        if ious[-1] >= stop_at:
            break
    return ious
