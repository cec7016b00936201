"""A positive click on a rim: the mask grown across the dark (or bright) band that rings it.

Droplets, bubbles and cells often sit inside a rim darker than both their inside and the background,
and annotators draw some of them on the rim's outer edge. The first click outlines the bright
inside; a click on the rim then adds only its own pixels to the colour path's GrabCut (the rim's
colour is in neither colour model), so such an object took 12-20 clicks on droplets' crowded frames
(benchmarks/README, "A click on the rim"). A click just outside the mask, on a band that is darker
(or lighter) than both the mask and what lies beyond it all the way round, means "the rim too": the
mask grows uniformly to the outline with the strongest edges across that band.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import colour
from .clicker import Click

MAX_GAP = 12  # px: the farthest outside the mask a click is read as a click on its rim
SECTORS = 8  # the band must be a rim in every one of these angular sectors round the mask
SECTOR_PIXELS = 3  # a sector with fewer band pixels than this cannot show a rim (so: no rim)
# the band's grey must stand off both sides by more than this share of its smaller contrast, in
# every sector: the blurred edge of a dark blob on a bright ground lies between the two, not beyond
CONTRAST_SHARE = 0.5


def grown_to_rim(
    grey: np.ndarray, gradient: np.ndarray, prev: np.ndarray, clicks: list[Click], enforce
) -> np.ndarray | None:
    """``prev`` grown across the rim the last click (positive, outside ``prev``, within MAX_GAP)
    lies on, or None where that click is not on a rim. ``grey``: the blurred grey image, ``gradient``:
    colour.colour_gradient's; ``enforce(mask, clicks)`` applies the clicks as hard constraints.
    The growth is a uniform dilation by r in [gap + 1, 2 gap + 3] (the click protocol clicks the
    middle of the missed band; the band's outer edge lies about as far again), r chosen by the
    strength of the outline's edges."""
    click = clicks[-1]
    x, y = int(click.x), int(click.y)
    if not click.is_positive or prev[y, x] or not prev.any():
        return None
    h, w = prev.shape
    ys, xs = np.nonzero(prev)
    margin = 2 * MAX_GAP + 4
    y0, y1 = max(0, int(ys.min()) - margin), min(h, int(ys.max()) + margin + 1)
    x0, x1 = max(0, int(xs.min()) - margin), min(w, int(xs.max()) + margin + 1)
    if not (y0 <= y < y1 and x0 <= x < x1):
        return None
    inside = prev[y0:y1, x0:x1].astype(np.uint8)
    gap = float(cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3)[y - y0, x - x0])
    if gap > MAX_GAP:
        return None
    local = [Click(c.is_positive, c.x - x0, c.y - y0) for c in clicks]
    crop_gradient = gradient[y0:y1, x0:x1]
    best, best_strength = None, -1.0
    reach = int(np.ceil(gap))
    for r in range(reach + 1, 2 * reach + 4):
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        grown = enforce(cv2.dilate(inside, disk).astype(bool), local)
        strength = colour.edge_strength(grown, crop_gradient)
        if strength > best_strength:
            best, best_strength = grown, strength
    if best is None or not _is_rim(grey[y0:y1, x0:x1].astype(np.float32), inside.astype(bool), best):
        return None
    out = prev.astype(bool).copy()
    out[y0:y1, x0:x1] = best
    return out


def _is_rim(grey: np.ndarray, inside: np.ndarray, grown: np.ndarray) -> bool:
    """Whether the band ``grown`` less ``inside`` is darker than both sides (or lighter than both)
    in every sector round ``inside``'s centre, by more than CONTRAST_SHARE of its contrast."""
    band = grown & ~inside
    outside = cv2.dilate(grown.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~grown
    if band.sum() < SECTORS * SECTOR_PIXELS or not outside.any():
        return False
    band_mean, inner, outer = grey[band].mean(), grey[inside].mean(), grey[outside].mean()
    if (band_mean - inner) * (band_mean - outer) <= 0:  # between the two: an edge, not a rim
        return False
    tolerance = CONTRAST_SHARE * min(abs(band_mean - inner), abs(band_mean - outer))
    cy, cx = np.argwhere(inside).mean(axis=0)
    by, bx = np.nonzero(band)
    sector = ((np.arctan2(by - cy, bx - cx) + np.pi) / (2 * np.pi) * SECTORS).astype(int) % SECTORS
    values = grey[by, bx]
    for s in range(SECTORS):
        v = values[sector == s]
        if v.size < SECTOR_PIXELS:
            return False
        m = v.mean()
        for side in (inner, outer):
            if (m - side) * (band_mean - side) <= 0 or abs(m - side) <= tolerance:
                return False
    return True
