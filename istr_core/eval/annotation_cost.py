"""What reviewing one pre-labelled image costs a person, in seconds: the accounting of the
simulated annotation session (``benchmarks/annotation_session.py``).

The simulated annotator matches predictions to the true objects one-to-one, greedily by score, on
mask IoU; accepts a prediction at IoU >= 0.85, fixes one at 0.5 <= IoU < 0.85, deletes the others
and draws every object no prediction matched; a kept prediction of the wrong class is relabelled.
Prices (README, "What the loop saves"): accept 1 s,
delete 2 s, relabel 2 s, a fix or a missed object 79 s (a manual polygon, COCO's figure) or, when a click tool
is given, 2 s per click it needs to reach IoU 0.85 (at most 20 clicks, then the 79 s polygon). The
session's click tool (:class:`istr_core.eval.click_tool.InteractiveClickTool`) counts, by default,
the fewer of its clicks and the anchors of its edge-snapping polygon, each anchor priced as a click.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

import numpy as np

# clicks_to_reach(start_mask or None, true_mask) -> clicks needed to reach the accept IoU, or None
ClickCounter = Callable[[np.ndarray | None, np.ndarray], int | None]


@dataclass(frozen=True)
class CostModel:
    accept_s: float = 1.0
    delete_s: float = 2.0
    relabel_s: float = 2.0  # pick another class for a kept mask
    polygon_s: float = 79.0  # a hand-drawn polygon mask (COCO: 22 worker-hours per 1,000 masks)
    click_s: float = 2.0
    max_clicks: int = 20
    accept_iou: float = 0.85
    fix_iou: float = 0.5


@dataclass
class ImageReview:
    """The annotator's work on one image; ``seconds`` is its total price."""

    objects: int = 0
    accepted: int = 0
    fixed: int = 0
    deleted: int = 0
    missed: int = 0
    relabelled: int = 0
    clicks: int = 0  # clicks (or scissors anchors) spent on fixes and missed objects (click pricing only)
    polygons: int = 0  # fixes and missed objects drawn by hand
    seconds: float = 0.0
    matched_iou: list[float] = field(default_factory=list)

    def __add__(self, other: ImageReview) -> ImageReview:
        """The work on two parts of one image (objects clicked first, then the rest reviewed)."""
        counts = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        return ImageReview(**counts)


def mask_iou_matrix(pred: Sequence[np.ndarray], true: Sequence[np.ndarray]) -> np.ndarray:
    """(P, T) float32 IoU of binary masks of one image size. Only pairs whose tight boxes overlap are
    intersected, inside the boxes' overlap (a crowded frame's 150 x 100 pairs take milliseconds, not
    the seconds of one (P, H*W) x (H*W, T) product; the values are the same, bit for bit)."""
    if not len(pred) or not len(true):
        return np.zeros((len(pred), len(true)))
    pred = [np.asarray(m, bool) for m in pred]
    true = [np.asarray(m, bool) for m in true]
    (pb, pa), (tb, ta) = _boxes_and_areas(pred), _boxes_and_areas(true)
    y0, y1 = np.maximum(pb[:, None, 0], tb[None, :, 0]), np.minimum(pb[:, None, 1], tb[None, :, 1])
    x0, x1 = np.maximum(pb[:, None, 2], tb[None, :, 2]), np.minimum(pb[:, None, 3], tb[None, :, 3])
    inter = np.zeros((len(pred), len(true)), np.float32)
    for i, j in zip(*np.nonzero((y1 > y0) & (x1 > x0)), strict=True):
        window = np.s_[y0[i, j] : y1[i, j], x0[i, j] : x1[i, j]]
        inter[i, j] = np.count_nonzero(pred[i][window] & true[j][window])
    union = pa[:, None] + ta[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def _boxes_and_areas(masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) int boxes (y0, y1, x0, x1), end exclusive (all 0 for an empty mask), and (N,) float32 areas."""
    boxes, areas = np.zeros((len(masks), 4), np.int64), np.zeros(len(masks), np.float32)
    for k, m in enumerate(masks):
        rows = np.flatnonzero(m.any(1))
        if rows.size:
            cols = np.flatnonzero(m[rows[0] : rows[-1] + 1].any(0))
            boxes[k] = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            areas[k] = np.count_nonzero(m[rows[0] : rows[-1] + 1])
    return boxes, areas


def greedy_match(iou: np.ndarray, scores: Sequence[float], min_iou: float) -> list[tuple[int, int]]:
    """(prediction, truth) pairs: highest score first, each to its best free truth with IoU >= min_iou."""
    pairs, taken = [], set()
    for p in np.argsort(-np.asarray(scores, float), kind="stable"):
        free = [t for t in range(iou.shape[1]) if t not in taken]
        if not free:
            break
        best = max(free, key=lambda t: iou[p, t])
        if iou[p, best] >= min_iou:
            pairs.append((int(p), best))
            taken.add(best)
    return pairs


def review_image(
    pred_masks: Sequence[np.ndarray],
    pred_scores: Sequence[float],
    true_masks: Sequence[np.ndarray],
    cost: CostModel = CostModel(),
    clicks_to_reach: ClickCounter | None = None,
    pred_labels: Sequence[int] | None = None,
    true_labels: Sequence[int] | None = None,
    iou: np.ndarray | None = None,
) -> ImageReview:
    """Price the review of one image: see the module docstring. Classes count when both label lists
    are given; ``iou``, when given, is ``mask_iou_matrix(pred_masks, true_masks)`` computed once by a
    caller that prices the same masks several times."""
    if len(pred_masks) != len(pred_scores):
        raise ValueError(f"{len(pred_masks)} predicted masks but {len(pred_scores)} scores")
    if iou is None:
        iou = mask_iou_matrix(pred_masks, true_masks)
    elif iou.shape != (len(pred_masks), len(true_masks)):
        raise ValueError(f"iou is {iou.shape}, expected ({len(pred_masks)}, {len(true_masks)})")
    review = ImageReview(objects=len(true_masks))
    pairs = greedy_match(iou, pred_scores, cost.fix_iou)
    review.deleted = len(pred_masks) - len(pairs)
    review.seconds += review.deleted * cost.delete_s
    for p, t in pairs:
        review.matched_iou.append(float(iou[p, t]))
        if pred_labels is not None and true_labels is not None and pred_labels[p] != true_labels[t]:
            review.relabelled += 1
            review.seconds += cost.relabel_s
        if iou[p, t] >= cost.accept_iou:
            review.accepted += 1
            review.seconds += cost.accept_s
        else:
            review.fixed += 1
            _draw(
                review,
                np.asarray(pred_masks[p], bool),
                np.asarray(true_masks[t], bool),
                cost,
                clicks_to_reach,
            )
    matched = {t for _, t in pairs}
    for t, mask in enumerate(true_masks):
        if t not in matched:
            review.missed += 1
            _draw(review, None, np.asarray(mask, bool), cost, clicks_to_reach)
    return review


def _draw(
    review: ImageReview,
    start: np.ndarray | None,
    truth: np.ndarray,
    cost: CostModel,
    clicks_to_reach: ClickCounter | None,
) -> None:
    """A fix or a missed object: clicks when the click tool gets there in ``max_clicks``, else a polygon."""
    clicks = clicks_to_reach(start, truth) if clicks_to_reach is not None else None
    if clicks is not None and clicks <= cost.max_clicks:
        review.clicks += clicks
        review.seconds += clicks * cost.click_s
    else:
        review.polygons += 1
        review.seconds += cost.polygon_s
