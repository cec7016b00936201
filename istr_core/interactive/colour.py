"""The colour click path: what ``WeightFreeSegmenter`` runs where the grey-level wand finds only a
speck (photographs, textured or small objects).

- ``first_click``: candidates for one positive click, a box GrabCut centred on it at several sizes
  (the object's scale is unknown), and the one whose outline lies on the strongest colour edges.
- ``box_mask``: a dragged box alone: GrabCut with the inscribed ellipse "probably foreground", the
  rest of the box "probably background", outside it background, small boxes enlarged; where that
  collapses (under BOX_MIN_FILL of the box) the ellipse itself, which is already a fair mask.
- ``add_click``: the previous mask corrected by one more click. GrabCut with colour models fitted
  here (the clicks' pixels weighted up, so a negative click teaches the background model its
  colour) and frozen; only a window around the new click may change, the rest of the previous mask
  is a hard label, so a click fixes the error it was put in and nothing far away flips.

Measured on coco128-seg, nuclei val and droplets val (benchmarks/README.md, "Weight-free clicks on
photographs"). All take RGB uint8 (H, W, 3) images and pixel coordinates; masks are (H, W) bool.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .clicker import Click

FIRST_HALVES = (8, 16, 32, 64, 128)  # px at 640 px long side: half-sides of the first click's boxes
FIRST_SIDE = 64  # px: the side each first-click candidate is cut at (a coarse look per scale)
UPDATE_SIDE = 200  # px: the longest side a click's correction works at
MAX_UPSCALE = 4.0  # small objects are enlarged at most this much, so their outline keeps detail
# ... and a click's correction at most this much: measured (benchmarks/README, "Corrections at 2x"),
# NoC@85 nuclei val first 200 3.745 -> 3.46, objects 200-500 3.0 -> 2.98, 500-800 9.11 -> 8.65,
# train first 300 8.22 -> 7.95; coco128-seg 14.65 -> 14.76, droplets 1.078 same; 1.75, 2.5 and 3
# were worse than 4 on nuclei (a knife edge: one pixel decides a 20-pixel nucleus)
UPDATE_UPSCALE = 2.0
WINDOW_K = 4.0  # a click's window: this times its distance to the mask's edge ...
WINDOW_MIN = 10.0  # ... and at least this many pixels (measured: 2.5 / 6 gave 15.6 / 10.2, see README)
CLAIM = 0.5  # the inner share of the window that starts with the click's label
SEED_WEIGHT = 0.3  # share of the clicks' pixels in each colour model's sample
CLICK_RADIUS = 1  # px: hard seeds in this path (3 px disks swallowed 20-pixel nuclei)
BOX_SIDE = 160  # px: the longest side a box's GrabCut works at (small boxes enlarged, MAX_UPSCALE)
BOX_MARGIN = 0.1  # the background ring around a box, as a share of its long side (at least 8 px)
# A box GrabCut that keeps less than this share of the box has lost the object (small or low
# contrast ones): the inscribed ellipse answers instead. Measured (benchmarks/README, "The box
# prompt"): the rule lifts mean IoU from the object's box 0.38 -> 0.60 on coco128-seg
BOX_MIN_FILL = 0.25


@dataclass(frozen=True)
class Window:
    """A crop (x0, y0, x1, y1) of the image resampled by ``scale`` to ``size`` (w, h)."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float

    @classmethod
    def fit(cls, crop, side: float, max_upscale: float = MAX_UPSCALE) -> Window:
        x0, y0, x1, y1 = crop
        return cls(x0, y0, x1, y1, min(side / max(x1 - x0, y1 - y0, 1), max_upscale))

    @property
    def size(self) -> tuple[int, int]:
        w, h = (self.x1 - self.x0) * self.scale, (self.y1 - self.y0) * self.scale
        return max(4, round(w)), max(4, round(h))

    def point(self, c: Click) -> tuple[int, int]:
        w, h = self.size
        x, y = int((c.x - self.x0 + 0.5) * self.scale), int((c.y - self.y0 + 0.5) * self.scale)
        return min(max(x, 0), w - 1), min(max(y, 0), h - 1)

    def cut(self, image: np.ndarray) -> np.ndarray:
        interp = cv2.INTER_AREA if self.scale < 1 else cv2.INTER_LINEAR
        part = np.ascontiguousarray(image[self.y0 : self.y1, self.x0 : self.x1])
        part = part.astype(np.float32) if part.dtype == bool else part
        return cv2.resize(part, self.size, interpolation=interp)

    def uncut(self, small: np.ndarray) -> np.ndarray:
        """``small`` (bool, at ``size``) scaled back to the crop's own pixels."""
        return cv2.resize(small.astype(np.float32), (self.x1 - self.x0, self.y1 - self.y0)) > 0.5

    def paste(self, small: np.ndarray, into: np.ndarray) -> np.ndarray:
        """``into`` with the crop replaced by ``small`` (bool, at ``size``) scaled back."""
        out = into.copy()
        out[self.y0 : self.y1, self.x0 : self.x1] = self.uncut(small)
        return out


def clip_crop(x0, y0, x1, y1, shape) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    return max(0, int(x0)), max(0, int(y0)), min(w, int(x1) + 1), min(h, int(y1) + 1)


def fit_gmm(pixels: np.ndarray, components: int = 5) -> np.ndarray:
    """A colour GMM in OpenCV GrabCut's layout (1, 65): weights, means, covariances, from k-means
    on at most 4,000 pixels (seeded: the same pixels always give the same model)."""
    model = np.zeros((1, 65))
    x = pixels.reshape(-1, 3).astype(np.float32)
    if len(x) > 4000:
        x = x[np.random.default_rng(0).choice(len(x), 4000, replace=False)]
    k = max(1, min(components, len(x) // 4))
    if len(x) < 2:
        x = np.concatenate([x, np.zeros((2, 3), np.float32)])
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_MAX_ITER + cv2.TERM_CRITERIA_EPS, 10, 0.5)
    _, labels, _ = cv2.kmeans(x, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    for j in range(k):
        xj = x[labels.ravel() == j].astype(np.float64)
        if len(xj) < 2:
            continue
        model[0, j] = len(xj) / len(x)
        model[0, 5 + 3 * j : 8 + 3 * j] = xj.mean(0)
        cov = np.cov(xj.T) + 0.01 * np.eye(3)
        if np.linalg.det(cov) <= 1e-8:  # one grey level (grey images): keep it invertible
            cov += np.eye(3)
        model[0, 20 + 9 * j : 29 + 9 * j] = cov.ravel()
    return model


def _sample(bgr: np.ndarray, region: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """``region``'s pixels with ``seeds``' repeated to make SEED_WEIGHT of the sample."""
    a, b = bgr[region & ~seeds], bgr[seeds]
    if len(a) and len(b):
        b = np.repeat(b, min(200, max(1, int(SEED_WEIGHT * len(a) / ((1 - SEED_WEIGHT) * len(b))))), 0)
    both = np.concatenate([a, b])
    return both if len(both) else bgr.reshape(-1, 3)


def _grabcut(bgr: np.ndarray, labels: np.ndarray, fgd=None, bgd=None, iterations: int = 3) -> np.ndarray:
    """GrabCut on ``labels`` (GC_* values, changed in place) -> foreground; with models given they
    are frozen (one graph cut), else GrabCut fits its own from the labels (seeded RNG)."""
    if not np.isin(labels, (cv2.GC_BGD, cv2.GC_PR_BGD)).any() or not np.isin(labels, (1, 3)).any():
        return np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))
    try:
        if fgd is None:
            cv2.setRNGSeed(0)
            fgd, bgd = np.zeros((1, 65)), np.zeros((1, 65))
            cv2.grabCut(bgr, labels, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
        else:
            cv2.grabCut(bgr, labels, None, bgd, fgd, 1, cv2.GC_EVAL_FREEZE_MODEL)
    except cv2.error:  # one colour only: the labels as they are
        pass
    return np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))


def _component_at(mask: np.ndarray, x: int, y: int) -> np.ndarray:
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    return labels == labels[y, x] if labels[y, x] else mask


def box_candidate(image: np.ndarray, click: Click, half: float, side: int = FIRST_SIDE) -> np.ndarray:
    """GrabCut's box mode on a square of half-side ``half`` centred on the click: inside "probably
    foreground", a ring as wide outside it background; the part holding the click."""
    r = 2 * half
    crop = clip_crop(click.x - r, click.y - r, click.x + r, click.y + r, image.shape)
    win = Window.fit(crop, side)
    labels = np.full(win.size[::-1], cv2.GC_BGD, np.uint8)
    s = win.scale
    bx0, by0 = int((click.x - half - win.x0) * s), int((click.y - half - win.y0) * s)
    bx1, by1 = int((click.x + half - win.x0) * s), int((click.y + half - win.y0) * s)
    labels[max(0, by0) : by1 + 1, max(0, bx0) : bx1 + 1] = cv2.GC_PR_FGD
    x, y = win.point(click)
    cv2.circle(labels, (x, y), 1, int(cv2.GC_FGD), -1)
    fg = _component_at(_grabcut(win.cut(image[..., ::-1]), labels), x, y)
    return win.paste(fg, np.zeros(image.shape[:2], bool))


def inscribed_ellipse(shape, box) -> np.ndarray:
    """(H, W) bool: the ellipse filling the box (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    out = np.zeros(shape[:2], np.uint8)
    centre, axes = ((x0 + x1) / 2, (y0 + y1) / 2), (max(x1 - x0, 1.0), max(y1 - y0, 1.0))
    cv2.ellipse(out, (centre, axes, 0.0), 1, -1)
    return out.astype(bool)


def box_mask(image: np.ndarray, box, side: int = BOX_SIDE) -> np.ndarray:
    """The object a box (x0, y0, x1, y1) was drawn around, inside it (and inside the image): GrabCut
    at ``side`` from the inscribed ellipse (3 iterations), or the ellipse where GrabCut keeps under
    BOX_MIN_FILL. Works on the box's window only (a first click asks for seven of them)."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    m = max(8.0, BOX_MARGIN * max(x1 - x0, y1 - y0))
    win = Window.fit(clip_crop(x0 - m, y0 - m, x1 + m, y1 + m, image.shape), side)
    s = win.scale
    bx0, by0 = max(0, int((x0 - win.x0) * s)), max(0, int((y0 - win.y0) * s))
    bx1, by1 = int(np.ceil((x1 - win.x0) * s)), int(np.ceil((y1 - win.y0) * s))
    labels = np.full(win.size[::-1], cv2.GC_BGD, np.uint8)
    labels[by0:by1, bx0:bx1] = cv2.GC_PR_BGD
    labels[inscribed_ellipse(labels.shape, (bx0, by0, bx1, by1))] = cv2.GC_PR_FGD
    fg = _grabcut(win.cut(image[..., ::-1]), labels, iterations=3)
    # the box in window pixels at full resolution, clipped to the image
    cw, ch = win.x1 - win.x0, win.y1 - win.y0
    ix0, iy0 = max(0, int(x0)) - win.x0, max(0, int(y0)) - win.y0
    ix1, iy1 = min(w, int(np.ceil(x1))) - win.x0, min(h, int(np.ceil(y1))) - win.y0
    inbox = np.zeros((ch, cw), bool)
    inbox[max(0, iy0) : max(0, iy1), max(0, ix0) : max(0, ix1)] = True
    part = win.uncut(fg) & inbox
    if part.sum() < BOX_MIN_FILL * inbox.sum():
        part = inscribed_ellipse((ch, cw), (x0 - win.x0, y0 - win.y0, x1 - win.x0, y1 - win.y0)) & inbox
    out = np.zeros((h, w), bool)
    out[win.y0 : win.y1, win.x0 : win.x1] = part
    return out


def edge_strength(mask: np.ndarray, gradient: np.ndarray) -> float:
    """Mean colour-gradient magnitude on the mask's outline (0 for an empty mask): a true object's
    outline runs along edges, a wrong scale's cuts through flat colour or texture. Reads only the
    mask's bounding box (and a 2 px margin)."""
    m = mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
    x, y, bw, bh = cv2.boundingRect(m)
    y0, x0 = max(0, y - 2), max(0, x - 2)
    y1, x1 = min(m.shape[0], y + bh + 2), min(m.shape[1], x + bw + 2)
    m = m[y0:y1, x0:x1]
    if int(m.sum()) < 4:
        return 0.0
    k = np.ones((3, 3), np.uint8)
    ring = cv2.dilate(m, k) > cv2.erode(m, k)
    return float(gradient[y0:y1, x0:x1][ring].mean()) if ring.any() else 0.0


def first_click(image: np.ndarray, gradient: np.ndarray, click: Click, wand: np.ndarray) -> np.ndarray:
    """One positive click: the wand path's mask or a box GrabCut at one of FIRST_HALVES (scaled to
    the image), whichever outline has the strongest edges."""
    long = max(image.shape[:2])
    candidates = [wand]
    for half in FIRST_HALVES:
        half = max(4.0, half * long / 640)
        if half > long / 2:
            break
        candidates.append(box_candidate(image, click, half))
    return candidates[int(np.argmax([edge_strength(m, gradient) for m in candidates]))]


def colour_gradient(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 gradient magnitude in Lab (lightly blurred): what ``edge_strength`` reads.
    OpenCV's element-wise ops throughout (the same values as numpy's, in a third of the time)."""
    lab = cv2.cvtColor(cv2.GaussianBlur(image, (0, 0), 1.0), cv2.COLOR_RGB2Lab).astype(np.float32)
    gx, gy = cv2.Sobel(lab, cv2.CV_32F, 1, 0), cv2.Sobel(lab, cv2.CV_32F, 0, 1)
    squares = cv2.add(cv2.multiply(gx, gx), cv2.multiply(gy, gy))
    return cv2.sqrt(cv2.transform(squares, np.ones((1, 3), np.float32)))


def _update_window(prev: np.ndarray, click: Click) -> tuple[Window, float]:
    """The crop a click's correction works in (its window and the mask, so the colour models see
    the object) and the window's radius in image pixels."""
    cx, cy = int(click.x), int(click.y)
    other = prev if click.is_positive else ~prev
    if other.any():
        delta = float(cv2.distanceTransform((~other).astype(np.uint8), cv2.DIST_L2, 3)[cy, cx])
    else:
        delta = max(prev.shape) / 4
    radius = max(WINDOW_MIN, WINDOW_K * delta)
    x0, y0, x1, y1 = cx - 1.5 * radius, cy - 1.5 * radius, cx + 1.5 * radius, cy + 1.5 * radius
    if prev.any():
        yy, xx = np.nonzero(prev)
        x0, y0 = min(x0, xx.min() - 8), min(y0, yy.min() - 8)
        x1, y1 = max(x1, xx.max() + 8), max(y1, yy.max() + 8)
    return Window.fit(clip_crop(x0, y0, x1, y1, prev.shape), UPDATE_SIDE, UPDATE_UPSCALE), radius


def add_click(image: np.ndarray, prev: np.ndarray, clicks: list[Click]) -> np.ndarray:
    """``prev`` (the mask for ``clicks[:-1]``) corrected by the last click: GrabCut in a window
    around it, every click a hard seed, colour models fitted with the clicks weighted up and the
    inner window taking the new click's label."""
    click = clicks[-1]
    if prev[int(click.y), int(click.x)] == click.is_positive:
        return prev
    win, radius = _update_window(prev, click)
    bgr, pm = win.cut(image[..., ::-1]), win.cut(prev) >= 0.5
    w, h = win.size
    px, py = win.point(click)
    d = np.hypot(*np.mgrid[0:h, 0:w][::-1] - np.array([px, py])[:, None, None])
    inside, inner = d <= radius * win.scale, d <= CLAIM * radius * win.scale
    fg = np.where(inner, click.is_positive, pm)
    seeds = {True: np.zeros((h, w), np.uint8), False: np.zeros((h, w), np.uint8)}
    for c in clicks:
        cv2.circle(seeds[c.is_positive], win.point(c), max(1, round(2 * win.scale)), 1, -1)
    pos, neg = seeds[True].astype(bool), seeds[False].astype(bool)
    fgd, bgd = fit_gmm(_sample(bgr, fg & ~neg, pos)), fit_gmm(_sample(bgr, ~fg & ~pos, neg))
    labels = np.where(pm, cv2.GC_FGD, cv2.GC_BGD).astype(np.uint8)
    labels[inside] = np.where(fg[inside], cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    for c in clicks:
        seed = cv2.GC_FGD if c.is_positive else cv2.GC_BGD
        cv2.circle(labels, win.point(c), max(1, round(CLICK_RADIUS * win.scale)), int(seed), -1)
    return win.paste(_grabcut(bgr, labels, fgd, bgd), prev)
