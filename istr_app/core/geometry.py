"""Qt-free mask geometry for the edit tools: strokes, polygons, contour editing.

Coordinates are image pixels, (x, y) floats; masks are (H, W) bool.
"""

from __future__ import annotations

import cv2
import numpy as np


def stroke_mask(shape: tuple[int, int], points: list[tuple[float, float]], radius: float) -> np.ndarray:
    """Pixels covered by a round brush of ``radius`` dragged through ``points``."""
    out = np.zeros(shape, np.uint8)
    r = max(1, int(round(radius)))
    pts = [(int(round(x)), int(round(y))) for x, y in points]
    for a, b in zip(pts, pts[1:] or pts, strict=False):
        cv2.line(out, a, b, 1, thickness=2 * r, lineType=cv2.LINE_8)
        cv2.circle(out, b, r, 1, -1)
    if pts:
        cv2.circle(out, pts[0], r, 1, -1)
    return out.astype(bool)


def polygon_mask(shape: tuple[int, int], points: list[tuple[float, float]]) -> np.ndarray:
    """Filled polygon; fewer than 3 vertices gives an empty mask."""
    out = np.zeros(shape, np.uint8)
    if len(points) >= 3:
        cv2.fillPoly(out, [np.round(np.asarray(points)).astype(np.int32)], 1)
    return out.astype(bool)


def outer_polygons(mask: np.ndarray, epsilon: float = 0.8) -> list[np.ndarray]:
    """Outer contours of each connected part as (N, 2) float vertex arrays, largest first.

    Simplified with Douglas-Peucker so a human can drag vertices; holes are not returned because
    ``replace_polygon`` keeps them.
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    polys = []
    for c in sorted(contours, key=cv2.contourArea, reverse=True):
        approx = cv2.approxPolyDP(c, epsilon, True).reshape(-1, 2).astype(float)
        if len(approx) >= 3:
            polys.append(approx)
    return polys


def replace_polygon(mask: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The mask with the part outlined by ``old`` redrawn as ``new``, holes inside kept.

    The removed region is the old outline dilated by one pixel so that the simplification error of
    ``outer_polygons`` does not leave a rim of stale pixels.
    """
    old_fill = polygon_mask(mask.shape, list(map(tuple, old)))
    old_fill = cv2.dilate(old_fill.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    part = mask & old_fill
    filled_part = _fill_holes(part)
    holes = filled_part & ~part
    new_fill = polygon_mask(mask.shape, list(map(tuple, new)))
    return (mask & ~old_fill) | (new_fill & ~holes)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(out, contours, -1, 1, -1)
    return out.astype(bool) | mask


def nearest_vertex(poly: np.ndarray, x: float, y: float, tol: float) -> int | None:
    d = np.hypot(poly[:, 0] - x, poly[:, 1] - y)
    k = int(np.argmin(d))
    return k if d[k] <= tol else None


def nearest_edge(poly: np.ndarray, x: float, y: float, tol: float) -> int | None:
    """Index i of the edge (i, i+1) closest to (x, y) within ``tol``; a new vertex goes at i+1."""
    a, b = poly, np.roll(poly, -1, axis=0)
    ab = b - a
    t = np.clip(
        ((x - a[:, 0]) * ab[:, 0] + (y - a[:, 1]) * ab[:, 1]) / np.maximum((ab**2).sum(1), 1e-9), 0, 1
    )
    px, py = a[:, 0] + t * ab[:, 0], a[:, 1] + t * ab[:, 1]
    d = np.hypot(px - x, py - y)
    k = int(np.argmin(d))
    return k if d[k] <= tol else None
