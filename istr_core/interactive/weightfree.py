"""Click segmentation without a model: the tool's path on the very first image, and its fallback
where the model disagrees with the clicks.

- ``magic_wand``: flood fill from a point with a grey-level tolerance (negatives are walls).
- ``grabcut_clicks``: OpenCV GrabCut on a crop, the clicks as hard seeds, a starting mask (the
  wand's region, the model's guess or the previous mask) as "probably foreground".
- ``WeightFreeSegmenter``: what ``ClickPredictor`` runs without a model: the wand (then GrabCut)
  where the first click's wand region is more than a speck, else the colour path of colour.py.
  (The edge-snapping polygon is ``scissors.py``.)

All take RGB uint8 (H, W, 3) images and pixel coordinates; masks are (H, W) bool.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from . import colour
from .clicker import Click, mask_iou
from .rim import grown_to_rim

# px: half-sides of the squares around a first click the wand answers, whose box masks compete with
# the wand's region by outline strength (the object's scale is unknown). Measured (benchmarks/README,
# "The box prompt"): NoC@85 nuclei val 5.07 -> 4.95, coco128-seg 15.41 -> 14.97, droplets 1.08 same
FIRST_BOX_HALVES = (4, 6, 9, 13, 19, 28, 40)
FIRST_BOX_SIDE = 64  # px: the side those squares' GrabCuts work at (a coarse look per scale)
# a winning square whose mask has at least this IoU with the wand's region only reshapes the object
# the wand found: the wand answers (its grey-level corrections converge on such objects; the colour
# corrections after a square did not on large rimmed droplets: NoC@85 droplets train images 1-3
# 2.6 -> 1.17, nuclei val 3.46, droplets val 1.078 and coco128-seg 14.76 unchanged; 0.75 the same,
# 0.85 gives 2.3; benchmarks/README, "A square that agrees with the wand")
FIRST_BOX_AGREEMENT = 0.8
GRABCUT_SIDE = 160  # px: the longest side GrabCut works at
SEED_RADIUS = 3  # px: hard seeds are small disks, so a click near an edge does not cross it
SPECK_AREA = round(50 * np.pi * SEED_RADIUS**2)  # px: a wand region under this is a speck
TOLERANCES = (2, 3, 4, 6, 8, 11, 15, 20, 28, 38, 50)
# px: a correction changing at most this many pixels took little more than the click's own disk
# (twice colour.CLICK_RADIUS + 1's area): only then is the click read as one on a rim (rim.py)
RIM_CHANGE_PIXELS = round(2 * np.pi * (colour.CLICK_RADIUS + 1) ** 2)


def _grey(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    return cv2.GaussianBlur(grey, (0, 0), 1.2)


def _inside(image_shape, click: Click) -> bool:
    h, w = image_shape[:2]
    return 0 <= click.x < w and 0 <= click.y < h


def magic_wand(
    grey: np.ndarray, x: int, y: int, tolerance: float, walls: np.ndarray | None = None
) -> np.ndarray:
    """Pixels 4-connected to (x, y) whose grey level is within ``tolerance`` of the seed's
    (fixed range: a slow gradient cannot walk the fill out of the object)."""
    h, w = grey.shape
    mask = np.zeros((h + 2, w + 2), np.uint8) if walls is None else walls.copy()
    if mask[y + 1, x + 1]:
        return np.zeros((h, w), bool)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (2 << 8)
    cv2.floodFill(grey, mask, (x, y), 0, tolerance, tolerance, flags)
    return mask[1:-1, 1:-1] == 2


def stable_wand(
    grey: np.ndarray, click: Click, walls: np.ndarray, forbidden: np.ndarray | None, sides, max_area: int
) -> np.ndarray:
    """The wand's region from ``click`` at the largest tolerance before it leaks: before it reaches
    an open crop side (``sides``: left, top, right, bottom; see ``_open_sides``), ``max_area``
    pixels, or a ``forbidden`` pixel (near a click of the other kind). ``walls``: pixels it may not
    enter."""
    x, y = int(click.x), int(click.y)
    padded = np.pad(walls.astype(np.uint8), 1)
    region = np.zeros(grey.shape, bool)
    for tol in TOLERANCES:
        r = magic_wand(grey, x, y, tol, padded)
        if r.sum() > max_area or _leaks(r, sides) or (forbidden is not None and (r & forbidden).any()):
            break
        region = r
    return region


def _without_threads(region: np.ndarray, click: Click, radius: int = 2) -> np.ndarray:
    """The region less the thin lines (an opening) that let a fill run along an edge into other
    objects: the part connected to the click, or the region as it was when the opening ate it."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    opened = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_OPEN, k)
    n, labels = cv2.connectedComponents(opened, connectivity=4)
    label = labels[int(click.y), int(click.x)]
    return labels == label if label else region


def _close_and_fill(mask: np.ndarray, radius: int) -> np.ndarray:
    """Closing (bridges the wand's speckle gaps) and filled holes: objects here are solid."""
    if not mask.any():
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, k)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros_like(m)
    cv2.drawContours(out, contours, -1, 1, -1)
    return out.astype(bool)


def grabcut_clicks(
    image: np.ndarray,
    clicks: list[Click],
    start: np.ndarray,
    crop: tuple[int, int, int, int],
    iterations: int = 3,
    max_side: int = GRABCUT_SIDE,
) -> np.ndarray:
    """GrabCut on ``crop`` (x0, y0, x1, y1) of an RGB image: ``start`` is "probably foreground",
    the rest of the crop "probably background", disks on the clicks hard seeds. The crop is
    shrunk to ``max_side`` pixels first (GrabCut's cost grows with the pixels, its answer mostly
    does not) and the answer scaled back."""
    x0, y0, x1, y1 = crop
    if x1 - x0 < 8 or y1 - y0 < 8:
        return start.copy()
    scale = min(1.0, max_side / max(x1 - x0, y1 - y0))
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    small_start = cv2.resize(start[y0:y1, x0:x1].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    labels = np.where(small_start > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    for c in clicks:
        seed = cv2.GC_FGD if c.is_positive else cv2.GC_BGD
        centre = (int((c.x - x0) * scale), int((c.y - y0) * scale))
        cv2.circle(labels, centre, max(1, round(SEED_RADIUS * scale)), int(seed), -1)
    out = np.zeros(image.shape[:2], bool)
    if not np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).any():
        return out
    bgr = cv2.resize(np.ascontiguousarray(image[y0:y1, x0:x1, ::-1]), size, interpolation=cv2.INTER_AREA)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.setRNGSeed(0)  # its colour models start from k-means on OpenCV's RNG: no state across calls
        cv2.grabCut(bgr, labels, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # one colour only (a flat crop): the starting mask is all we know
        return start.copy()
    fg = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    out[y0:y1, x0:x1] = cv2.resize(fg, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) > 0.5
    return out


class WeightFreeSegmenter:
    """Clicks -> mask from the image alone. Each click, replayed in order, grows (positive) or carves
    (negative) the region the magic wand finds from it, at the tolerance where that region is stable;
    where the wand finds only a speck (textured objects), GrabCut seeded with the clicks takes over.
    Stateless between calls: the same clicks always give the same mask, so undoing a click is
    predicting without it."""

    def __init__(self, image: np.ndarray):
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        self.image = np.ascontiguousarray(image)
        self.grey = _grey(self.image)
        self.shape = self.image.shape[:2]
        self._cache: dict[tuple, np.ndarray] = {}
        self._colour_masks: dict[tuple, np.ndarray | None] = {}
        # the colour gradient edge_strength reads: image-level work, so it is done here (istr-app
        # builds this in the background as an image opens), not on the first click
        self._gradient = colour.colour_gradient(self.image)

    def predict(
        self, clicks: list[Click], box: tuple[float, float, float, float] | None = None, prev_mask=None
    ) -> np.ndarray:
        h, w = self.shape
        clicks = [c for c in clicks if _inside(self.shape, c)]
        positives = [c for c in clicks if c.is_positive]
        if box is None and prev_mask is None and positives:
            if not self._wand_finds_object(positives[0]):
                return self._colour(clicks)
            boxed = self._first_box(positives[0])
            if boxed is not None:
                return self._correct(boxed, clicks)
        fixing = box is None and prev_mask is not None and clicks and prev_mask.any()
        if fixing and (not positives or not self._wand_finds_object(positives[0])):
            return self._correct(prev_mask.astype(bool), clicks)
        return self._wand_path(clicks, box, prev_mask)

    def _first_box(self, click: Click) -> np.ndarray | None:
        """Where the wand finds the object: the box tool's mask of a square around the first click
        (half-sides FIRST_BOX_HALVES) when one of them has a stronger outline than the wand's region
        and a shape of its own (IoU with that region under FIRST_BOX_AGREEMENT), else None (the wand
        path answers every click). Memoised per click."""

        def choose() -> np.ndarray | None:
            x, y = click.x, click.y
            squares = [(x - r, y - r, x + r + 1, y + r + 1) for r in FIRST_BOX_HALVES]
            candidates = [self._wand_path([click], None, None)]
            candidates += [colour.box_mask(self.image, b, FIRST_BOX_SIDE) for b in squares]
            gradient = self._gradient
            best = int(np.argmax([colour.edge_strength(m, gradient) for m in candidates]))
            if best == 0 or mask_iou(candidates[best], candidates[0]) >= FIRST_BOX_AGREEMENT:
                return None
            return candidates[best]

        return self._memo(("first_box", int(click.x), int(click.y)), choose)

    def _correct(self, start: np.ndarray, clicks: list[Click]) -> np.ndarray:
        """Clicks that fix a given mask (a pre-label, a box's mask) where the wand would find only a
        speck (or there is no positive click), and the clicks after a first click that a box mask
        answered (``_first_box``): the colour path's corrections (colour.add_click) one click at a
        time from ``start``, memoised per (start, click prefix). Measured from the box tool's masks
        (benchmarks/README, "The box prompt"), NoC@85 of box + clicks, this rule / the colour
        corrections always / the grey wand's always: coco128-seg 13.95 / 13.5 / 15.1, nuclei 3.72 /
        3.71 / 5.13, droplets 1.08 / 1.09 / 1.10; the wand keeps the objects it finds (the first
        click's rule); on pre-labels the two were even (droplets 7.43 vs 7.46 s/object)."""
        return self._corrected(
            start, hashlib.blake2b(np.packbits(start).data, digest_size=16).digest(), clicks
        )

    def _corrected(self, start: np.ndarray, start_key: bytes, clicks: list[Click]) -> np.ndarray:
        """``_correct`` with the start mask's digest computed once for every click prefix."""

        def correct() -> np.ndarray:
            prev = start if len(clicks) == 1 else self._corrected(start, start_key, clicks[:-1])
            return self._step(prev, clicks)

        return self._memo((start_key, tuple(clicks)), correct)

    def _memo(self, key: tuple, compute):
        """The colour path's masks by key (click prefixes, a start mask's digest), at most ~256 kept:
        each call costs one correction, and the same clicks always give the same mask."""
        if key not in self._colour_masks:
            if len(self._colour_masks) > 256:
                self._colour_masks.clear()
            self._colour_masks[key] = compute()
        return self._colour_masks[key]

    def _wand_path(self, clicks, box, prev_mask) -> np.ndarray:
        """The grey-level path: every click replayed through the wand, GrabCut on specks."""
        h, w = self.shape
        mask = np.zeros((h, w), bool) if prev_mask is None else prev_mask.astype(bool).copy()
        if box is not None and not mask.any() and not any(c.is_positive for c in clicks):
            mask = self._box(box)
        if not clicks:
            return mask
        x0, y0, x1, y1 = crop = self._crop(clicks, box, mask)
        local = [Click(c.is_positive, c.x - x0, c.y - y0) for c in clicks]
        part = self._predict_crop(local, crop, mask[y0:y1, x0:x1])
        mask[y0:y1, x0:x1] = part
        return mask

    def _wand_finds_object(self, click: Click) -> bool:
        """Whether the first positive click's wand region is more than a speck (then the grey-level
        path serves all the clicks: droplets, flat objects); else the colour path does."""
        x0, y0, x1, y1 = crop = self._crop([click], None, np.zeros(self.shape, bool))
        local = Click(True, click.x - x0, click.y - y0)
        grey, sides = self.grey[y0:y1, x0:x1], _open_sides(crop, self.shape)
        region = self._cached_wand(grey, local, [local], crop, sides)
        return int(_close_and_fill(region, 2).sum()) >= SPECK_AREA

    def _colour(self, clicks: list[Click]) -> np.ndarray:
        """The colour path (colour.py), memoised per click prefix: the mask for ``clicks`` is the one
        for ``clicks[:-1]`` corrected by the last click, so each call costs one correction and the
        same clicks still always give the same mask."""

        def compute() -> np.ndarray:
            first = next(i for i, c in enumerate(clicks) if c.is_positive)
            if len(clicks) == first + 1:
                old = self._wand_path(clicks, None, None)
                mask = colour.first_click(self.image, self._gradient, clicks[first], old)
                return enforce_clicks(mask, clicks, colour.CLICK_RADIUS)
            return self._step(self._colour(clicks[:-1]), clicks)

        return self._memo(tuple(clicks), compute)

    def _step(self, prev: np.ndarray, clicks: list[Click]) -> np.ndarray:
        """``prev`` corrected by the last click (colour.add_click), the clicks enforced; where that
        adds little more than the click's own pixels and the click lies on a rim round ``prev``,
        ``prev`` grown across the rim instead (rim.py)."""
        out = enforce_clicks(colour.add_click(self.image, prev, clicks), clicks, _seed_radii(prev, clicks))
        if int((out != prev).sum()) <= RIM_CHANGE_PIXELS:
            rim = grown_to_rim(self.grey, self._gradient, prev, clicks, enforce_clicks)
            if rim is not None:
                return rim
        return out

    def _predict_crop(self, clicks: list[Click], crop, mask: np.ndarray) -> np.ndarray:
        """The work of ``predict`` in crop coordinates: positives grow, negatives carve."""
        x0, y0, x1, y1 = crop
        grey, shape = self.grey[y0:y1, x0:x1], mask.shape
        sides = _open_sides(crop, self.shape)
        grown = np.zeros(shape, bool)
        for c in clicks:
            if c.is_positive and not grown[int(c.y), int(c.x)]:
                grown |= self._cached_wand(grey, c, clicks, crop, sides)
        mask = mask | grown
        carve = np.zeros(shape, bool)
        near_positive = _disks(shape, clicks, SEED_RADIUS + 3, positive=True)
        for c in clicks:
            if not c.is_positive and mask[int(c.y), int(c.x)] and not carve[int(c.y), int(c.x)]:
                walls = ~mask | _disks(shape, clicks, SEED_RADIUS, positive=True)
                carve |= stable_wand(grey, c, walls, near_positive, (False,) * 4, int(mask.sum()) // 2)
        grown = _close_and_fill(grown, 2) & ~carve
        if any(c.is_positive for c in clicks) and grown.sum() < SPECK_AREA:
            rgb = self.image[y0:y1, x0:x1]
            grown = grabcut_clicks(
                rgb, clicks, grown | _disks(shape, clicks, 4 * SEED_RADIUS), (0, 0) + shape[::-1]
            )
        return enforce_clicks((mask & ~carve) | (grown & ~carve), clicks)

    def _cached_wand(self, grey, click: Click, clicks, crop, sides) -> np.ndarray:
        """A positive click's region, memoised (replaying the clicks after a new one only computes
        the new click's region). Negative clicks are walls, and the tolerance stays below the one
        that would bring the region next to a negative click: measured on droplets train.json,
        this beats carving afterwards (NoC@85 1.5 vs 3.4), which lets regions that ran along an
        edge into a neighbour survive."""
        negatives = tuple((int(c.x), int(c.y)) for c in clicks if not c.is_positive)
        key = (int(click.x), int(click.y), crop, negatives)
        if key not in self._cache:
            if len(self._cache) > 256:
                self._cache.clear()
            walls = _disks(grey.shape, clicks, SEED_RADIUS, positive=False)
            near = _disks(grey.shape, clicks, SEED_RADIUS + 3, positive=False)
            region = stable_wand(grey, click, walls, near, sides, grey.size // 2)
            self._cache[key] = _without_threads(region, click)
        return self._cache[key]

    def _crop(self, clicks, box, mask) -> tuple[int, int, int, int]:
        """Where the wand may look: around the clicks, the box and the mask, with a margin that
        grows with their extent (at least a sixth of the image's long side)."""
        h, w = self.shape
        xs = [c.x for c in clicks] + ([box[0], box[2]] if box is not None else [])
        ys = [c.y for c in clicks] + ([box[1], box[3]] if box is not None else [])
        if mask.any():
            yy, xx = np.nonzero(mask)
            xs += [xx.min(), xx.max()]
            ys += [yy.min(), yy.max()]
        extent = max(max(xs) - min(xs), max(ys) - min(ys))
        margin = max(32, int(max(max(h, w) / 6, extent)))
        return (
            max(0, int(min(xs)) - margin),
            max(0, int(min(ys)) - margin),
            min(w, int(max(xs)) + margin + 1),
            min(h, int(max(ys)) + margin + 1),
        )

    def _box(self, box) -> np.ndarray:
        """A box alone: the colour path's box GrabCut (colour.box_mask), clipped to the image."""
        h, w = self.shape
        x0, x1 = sorted((min(max(box[0], 0), w), min(max(box[2], 0), w)))
        y0, y1 = sorted((min(max(box[1], 0), h), min(max(box[3], 0), h)))
        if x1 - x0 < 1 or y1 - y0 < 1:
            return np.zeros(self.shape, bool)
        return colour.box_mask(self.image, (x0, y0, x1, y1))


def _open_sides(crop, shape) -> tuple[bool, bool, bool, bool]:
    """Which crop sides (left, top, right, bottom) lie inside the image: a region reaching one has
    leaked out of the object (reaching the image border is fine: objects may be cut off)."""
    x0, y0, x1, y1 = crop
    return x0 > 0, y0 > 0, x1 < shape[1], y1 < shape[0]


def _leaks(region: np.ndarray, sides) -> bool:
    left, top, right, bottom = sides
    return bool(
        (left and region[:, 0].any())
        or (top and region[0].any())
        or (right and region[:, -1].any())
        or (bottom and region[-1].any())
    )


def _disks(shape, clicks: list[Click], radius: int, positive: bool = True) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    for c in clicks:
        if c.is_positive == positive:
            cv2.circle(out, (int(c.x), int(c.y)), radius, 1, -1)
    return out.astype(bool)


def _seed_radii(prev: np.ndarray, clicks: list[Click]) -> list[int]:
    """The colour path's disks for ``enforce_clicks`` after the last click corrected ``prev``: the
    earlier clicks keep their own pixel; the last one a disk of colour.CLICK_RADIUS, less where it
    would cross ``prev``'s outline (a click one pixel off the outline fixes that pixel: a wider disk
    spills past the true edge, the next click carves it back with a bit of the object, and small
    objects never converge)."""
    c = clicks[-1]
    radius = colour.CLICK_RADIUS
    # Only distances under radius + 1 change the disk, and the chamfer distance is at least 0.955
    # times the larger offset, so a window of half-side radius + 3 around the click gives the
    # whole image's answer (a full-image distance transform cost 6 ms a click at 1280x1024).
    x, y, r = int(c.x), int(c.y), radius + 3
    y0, x0 = max(0, y - r), max(0, x - r)
    near = prev[y0 : y + r + 1, x0 : x + r + 1]
    other = near if c.is_positive else ~near
    if other.any():
        d = cv2.distanceTransform((~other).astype(np.uint8), cv2.DIST_L2, 3)[y - y0, x - x0]
        radius = max(0, min(radius, int(d) - 1))
    return [0] * (len(clicks) - 1) + [radius]


def enforce_clicks(
    mask: np.ndarray, clicks: list[Click], radius: int | list[int] = SEED_RADIUS
) -> np.ndarray:
    """Clicks as hard constraints: keep only the connected parts that hold a positive click (all
    parts when none does), include a disk of ``radius`` (one per click, or one for all) at every
    positive click and exclude one at every negative click; later clicks win where disks overlap."""
    radii = [radius] * len(clicks) if isinstance(radius, int) else list(radius)
    kept = [(c, r) for c, r in zip(clicks, radii, strict=True) if _inside(mask.shape, c)]
    clicks = [c for c, _ in kept]
    if not clicks:
        return mask
    out = mask.astype(np.uint8)
    n, labels = cv2.connectedComponents(out, connectivity=8)
    keep = {int(labels[int(c.y), int(c.x)]) for c in clicks if c.is_positive} - {0}
    if keep and n > 2:
        out = np.isin(labels, list(keep)).astype(np.uint8)
    for c, r in kept:
        cv2.circle(out, (int(c.x), int(c.y)), r, 1 if c.is_positive else 0, -1)
    return out.astype(bool)
