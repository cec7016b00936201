"""Edge-snapping polygons ("intelligent scissors", a magnetic lasso): the path between two anchors
follows the strongest edges (OpenCV's IntelligentScissorsMB); and the simulated annotator who places
the anchors, which the click benchmark and the session's pricing both use.

- :class:`Scissors` (one per image): ``anchor(x, y)`` builds the map of best paths from one anchor
  (the costly part, a Dijkstra over a window around it); that :class:`AnchorMap`'s ``path_to(x, y)``
  then costs microseconds, what a live preview under the cursor needs. ``path(start, end)`` is one
  path, over a window that covers both ends.
- :func:`simulate_anchors` / :func:`anchors_to_reach`: anchors on the true outline, first at its
  extreme points, then each next one where the true outline is farthest from the snapped polygon,
  until the snapped polygon reaches the IoU.

Why windows: on a 1280x1024 frame (2-core machine) ``applyImage`` takes 0.05 s for the whole image
but ``buildMap`` 0.5 s per anchor, as it visits every pixel; over a 512 x 512 window around the
anchor both together take about 0.1 s, and an anchor's path rarely needs to go farther. A target
outside an anchor's window is reached by a straight line from the window's border.

Images are uint8, (H, W, 3) RGB or (H, W) grey; points are (x, y) pixels; paths are (N, 2) int32
(x, y) from the first point to the last; masks are (H, W) bool.
"""

from __future__ import annotations

import cv2
import numpy as np

from .clicker import mask_iou

WINDOW = 512  # px: side of the square around an anchor that its map covers (None: the whole image)
CANNY = (32, 100)  # the edge feature's Canny thresholds
GRADIENT_LIMIT = 200  # gradient magnitudes above this count as equally strong edges
PATH_MARGIN = 24  # px: a two-point path's window, around both ends, beyond half their distance
MIN_PART = 0.05  # parts of an object smaller than this share of its area get no anchors
Point = tuple[int, int]
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (end exclusive)


def _applied(crop: np.ndarray):
    tool = cv2.segmentation.IntelligentScissorsMB()
    tool.setEdgeFeatureCannyParameters(*CANNY)
    tool.setGradientMagnitudeMaxLimit(GRADIENT_LIMIT)
    tool.applyImage(np.ascontiguousarray(crop))
    return tool


class AnchorMap:
    """The best paths from one anchor to every pixel of ``box`` (a window of the image)."""

    def __init__(self, image: np.ndarray, anchor: Point, box: Box):
        x0, y0, x1, y1 = box
        if not (x0 <= anchor[0] < x1 and y0 <= anchor[1] < y1):
            raise ValueError(f"anchor {anchor} outside its window {box}")
        self.anchor, self.box, self.shape = anchor, box, image.shape[:2]
        self._tool = _applied(image[y0:y1, x0:x1])
        self._tool.buildMap((anchor[0] - x0, anchor[1] - y0))

    def path_to(self, x: float, y: float) -> np.ndarray:
        """(N, 2) int32 from the anchor to (x, y) (clamped into the image) along the strongest edges;
        when (x, y) is outside the window, the last row is (x, y) itself, a straight line away."""
        h, w = self.shape
        x0, y0, x1, y1 = self.box
        tx, ty = _clamp(x, 0, w), _clamp(y, 0, h)
        cx, cy = _clamp(tx, x0, x1), _clamp(ty, y0, y1)
        path = self._tool.getContour((cx - x0, cy - y0)).reshape(-1, 2) + (x0, y0)
        if (cx, cy) != (tx, ty):
            path = np.vstack([path, [(tx, ty)]])
        return path.astype(np.int32)


class Scissors:
    """Edge-snapping paths on one image; ``window``: the side of an anchor's square map (see the
    module docstring), None for the whole image."""

    def __init__(self, image: np.ndarray, window: int | None = WINDOW):
        image = np.asarray(image)
        if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] >= 3)):
            raise ValueError(f"expected a uint8 (H, W) or (H, W, 3) image, got {image.dtype} {image.shape}")
        self.image = np.ascontiguousarray(image if image.ndim == 2 else image[..., :3])
        self.window = window

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape[:2]

    def clamp(self, x: float, y: float) -> Point:
        h, w = self.shape
        return _clamp(x, 0, w), _clamp(y, 0, h)

    def anchor(self, x: float, y: float) -> AnchorMap:
        """The map of an anchor at (x, y): ~0.1 s for a 512 px window (the GUI builds it off its thread)."""
        a = self.clamp(x, y)
        half = None if self.window is None else self.window // 2
        return AnchorMap(self.image, a, self._box(a, a, half))

    def path(self, start: tuple[float, float], end: tuple[float, float]) -> np.ndarray:
        """(N, 2) int32 path from ``start`` to ``end`` along the strongest edges, over a window around
        both (the whole image when ``window`` is None)."""
        a, b = self.clamp(*start), self.clamp(*end)
        margin = None if self.window is None else PATH_MARGIN + int(0.5 * np.hypot(a[0] - b[0], a[1] - b[1]))
        return AnchorMap(self.image, a, self._box(a, b, margin)).path_to(*b)

    def _box(self, a: Point, b: Point, margin: int | None) -> Box:
        h, w = self.shape
        if margin is None:
            return 0, 0, w, h
        x0, x1 = max(min(a[0], b[0]) - margin, 0), min(max(a[0], b[0]) + margin + 1, w)
        y0, y1 = max(min(a[1], b[1]) - margin, 0), min(max(a[1], b[1]) + margin + 1, h)
        return x0, y0, x1, y1


def scissors_path(image: np.ndarray, start: tuple[int, int], end: tuple[int, int]) -> np.ndarray:
    """Edge-snapping path (N, 2) of (x, y) pixels from ``start`` to ``end`` over the whole image
    (one-off; for many paths on one image, keep a :class:`Scissors`)."""
    return Scissors(image, window=None).path(start, end)


def _clamp(v: float, lo: int, hi: int) -> int:
    return min(max(int(round(v)), lo), hi - 1)


# ----- the simulated annotator ----------------------------------------------------------------------


class _Part:
    """One connected part of the true mask: its outline (in order) and the anchors on it (indices
    into the outline, in outline order)."""

    def __init__(self, outline: np.ndarray):
        self.outline = outline
        self.anchors: list[int] = []

    def extreme_points(self) -> list[int]:
        """The outline's leftmost, topmost, rightmost and bottommost points (three evenly spaced ones
        when those are fewer than three distinct points)."""
        o = self.outline
        picks = {int(f(o[:, axis])) for axis in (0, 1) for f in (np.argmin, np.argmax)}
        if len({tuple(o[i]) for i in picks}) < 3:
            picks = {0, len(o) // 3, 2 * len(o) // 3}
        return sorted(picks)


class AnchorAnnotator:
    """Places anchors on ``truth``'s outline and snaps the polygon through them with ``scissors``:
    first the largest part's extreme points, then (``step``) an anchor where the true outline is
    farthest from the snapped one; a part of the object that is farthest gets its own extreme points.
    Parts under ``MIN_PART`` of the area are skipped, holes are not drawn (as a polygon annotator)."""

    def __init__(self, scissors: Scissors, truth: np.ndarray):
        self.scissors, self.truth = scissors, np.asarray(truth, bool)
        found, _ = cv2.findContours(self.truth.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        outlines = [c.reshape(-1, 2) for c in found if len(c) >= 3]
        areas = [max(cv2.contourArea(c), 1.0) for c in outlines]
        order = np.argsort(areas, kind="stable")[::-1]
        self.parts = [_Part(outlines[i]) for i in order if areas[i] >= MIN_PART * sum(areas)]
        self._segments: dict[tuple[int, int, int], np.ndarray] = {}
        ys, xs = np.nonzero(self.truth)
        self._truth_box = np.array([[xs.min(), ys.min()], [xs.max(), ys.max()]]) if xs.size else None

    @property
    def anchors(self) -> int:
        return sum(len(p.anchors) for p in self.parts)

    def start(self) -> int:
        """Anchors the first step places (the largest part's extreme points; 0: nothing to draw)."""
        return len(self.parts[0].extreme_points()) if self.parts else 0

    def step(self, max_anchors: int) -> bool:
        """Place the next anchor(s), keeping within ``max_anchors``; False when none can help."""
        if not self.parts:
            return False
        if not self.anchors:
            if self.start() > max_anchors:
                return False
            self.parts[0].anchors = self.parts[0].extreme_points()
            return True
        room = max_anchors - self.anchors
        dist, x0, y0 = self._outline_distance()
        best: tuple[float, int, int] | None = None  # (distance, part, outline index)
        for k, part in enumerate(self.parts):
            if room >= (1 if part.anchors else len(part.extreme_points())):
                d = dist[part.outline[:, 1] - y0, part.outline[:, 0] - x0]
                i = int(np.argmax(d))
                if best is None or d[i] > best[0]:
                    best = (float(d[i]), k, i)
        if best is None or best[0] < 0.5:  # every true outline pixel is on the snapped one
            return False
        part = self.parts[best[1]]
        part.anchors = sorted({*part.anchors, best[2]}) if part.anchors else part.extreme_points()
        return True

    def outlines(self) -> list[np.ndarray]:
        """The snapped polygon of every part with anchors: (N, 2) int32 each."""
        out = []
        for k, part in enumerate(self.parts):
            if part.anchors:
                ring = part.anchors + part.anchors[:1]
                out.append(np.vstack([self._segment(k, i, j) for i, j in zip(ring, ring[1:], strict=False)]))
        return out

    def mask(self) -> np.ndarray:
        """The snapped polygons, filled: (H, W) bool."""
        return self._filled(self.outlines(), (0, 0, *self.truth.shape[::-1]))

    def iou(self) -> float:
        outlines = self.outlines()
        x0, y0, x1, y1 = box = self._region(outlines)
        return mask_iou(self._filled(outlines, box), self.truth[y0:y1, x0:x1])

    def _region(self, outlines: list[np.ndarray]) -> Box:
        """The truth's box and the outlines' (within the image): nothing outside it differs."""
        h, w = self.truth.shape
        pts = np.vstack([self._truth_box, *outlines])
        (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        return max(int(x0), 0), max(int(y0), 0), min(int(x1) + 1, w), min(int(y1) + 1, h)

    @staticmethod
    def _filled(outlines: list[np.ndarray], box: Box) -> np.ndarray:
        x0, y0, x1, y1 = box
        out = np.zeros((y1 - y0, x1 - x0), np.uint8)
        for poly in outlines:
            cv2.fillPoly(out, [poly - (x0, y0)], 1)
        return out.astype(bool)

    def _segment(self, k: int, i: int, j: int) -> np.ndarray:
        key = (k, i, j)
        if key not in self._segments:
            o = self.parts[k].outline
            self._segments[key] = self.scissors.path(tuple(o[i]), tuple(o[j]))
        return self._segments[key]

    def _outline_distance(self) -> tuple[np.ndarray, int, int]:
        """Each pixel's distance to the snapped outlines over the region (see ``_region``): float32
        (y1 - y0, x1 - x0), x0, y0."""
        outlines = self.outlines()
        x0, y0, x1, y1 = self._region(outlines)
        drawn = np.full((y1 - y0, x1 - x0), 255, np.uint8)
        cv2.polylines(drawn, [o - (x0, y0) for o in outlines], True, 0)
        return cv2.distanceTransform(drawn, cv2.DIST_L2, 3), x0, y0


def simulate_anchors(
    scissors: Scissors, truth: np.ndarray, max_anchors: int = 20, stop_at: float = 1.0
) -> list[float]:
    """IoU of the snapped polygon by anchor count: ``ious[k - 1]`` with k anchors (where one step
    placed several, the first polygon's extreme points or a new part's, the counts before its last
    anchor keep the IoU before it: 0 before the first polygon).
    Stops at ``max_anchors``, once IoU >= ``stop_at``, or when no anchor can help."""
    annotator, ious = AnchorAnnotator(scissors, truth), []
    while annotator.step(max_anchors):
        iou = annotator.iou()
        ious += [ious[-1] if ious else 0.0] * (annotator.anchors - len(ious) - 1) + [iou]
        if iou >= stop_at:
            break
    return ious


def anchors_to_reach(
    scissors: Scissors, truth: np.ndarray, target: float = 0.85, max_anchors: int = 20
) -> int | None:
    """Anchors the simulated annotator places until the snapped polygon's IoU >= ``target``; None
    when ``max_anchors`` do not get there (0 for an empty mask)."""
    if not np.any(truth):
        return 0
    ious = simulate_anchors(scissors, truth, max_anchors, stop_at=target)
    return len(ious) if ious and ious[-1] >= target else None
