"""Tiled prediction for images of small objects, and the merge of the tiles' detections.

The online trainer learns an image of small objects on crops of 1/zoom of it per side
(``train.online.zoom_crop``): each crop, resized to the model's input scale, shows its objects
``zoom`` times larger, and holds about 1/zoom^2 of them. Predicting the whole image enlarged by
``zoom`` shows the objects at that size but with zoom^2 times as many per image as the model ever
trained on: a set predictor's proposals, learned on crops of a dozen droplets, found 28 of a crowded
frame's 101 (IoU 0.5); the same model on tiles the size of its training crops found 95
(benchmarks/README, "Tiles the size of the training crops"). So such an image is predicted tile by
tile, tiles overlapping by ``TILE_OVERLAP`` of their side (about two median objects: the zoom brings
the median object to 1/12 of a tile), and the tiles' detections are merged.

The merge (:func:`drop_duplicates`) keeps one detection per object: an object in the overlap is seen
by two tiles, whole in one and often cut by the other's edge; and a model trained for a few dozen
steps still emits near-copies of one object that its set loss has not yet taught it to suppress.
Detections are taken whole ones first (not touching a tile edge inside the image), then by score;
one is dropped when its mask overlaps a kept one by IoU >= ``DUPLICATE_IOU`` or covers it, or is
covered, by ``DUPLICATE_COVER`` of the smaller mask. Masks stay cropped to their boxes until the
survivors are pasted, so a 16-tile image with a hundred detections per tile holds no full-size masks
but its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..structures import Prediction

TILE_OVERLAP = 1 / 6  # of a tile's side
DUPLICATE_IOU = 0.5
DUPLICATE_COVER = 0.8  # intersection over the smaller mask


@dataclass(frozen=True)
class Tile:
    """A window of the image, rows y0:y1 and columns x0:x1."""

    y0: int
    x0: int
    y1: int
    x1: int


def tile_grid(height: int, width: int, zoom: float) -> list[Tile]:
    """Tiles of ceil(side / zoom) per side (the online trainer's crops), as few per side as keep
    neighbours overlapping by at least TILE_OVERLAP of a tile; one tile (the image) at zoom <= 1."""

    def spans(length: int) -> list[tuple[int, int]]:
        side = min(length, math.ceil(length / max(zoom, 1.0)))
        if side >= length:
            return [(0, length)]
        count = max(2, math.ceil((length / side - TILE_OVERLAP) / (1 - TILE_OVERLAP)))
        return [(int(s), int(s) + side) for s in np.linspace(0, length - side, count).round()]

    return [Tile(y0, x0, y1, x1) for y0, y1 in spans(height) for x0, x1 in spans(width)]


@dataclass(eq=False)
class Detection:
    """One detection in image pixels: the mask cropped to its integer box (rows y0:y0+h, columns
    x0:x0+w of the image), the model's float box, and whether it touches a tile edge that lies
    inside the image (then the object may go on in the neighbouring tile)."""

    y0: int
    x0: int
    crop: np.ndarray  # (h, w) bool
    box: tuple[float, float, float, float]
    label: int
    score: float
    cut: bool

    @cached_property
    def area(self) -> int:  # asked once per overlapping pair in drop_duplicates: counted once
        return int(self.crop.sum())

    def overlap(self, other: Detection) -> int:
        """Pixels the two masks share."""
        y0, x0 = max(self.y0, other.y0), max(self.x0, other.x0)
        y1 = min(self.y0 + self.crop.shape[0], other.y0 + other.crop.shape[0])
        x1 = min(self.x0 + self.crop.shape[1], other.x0 + other.crop.shape[1])
        if y1 <= y0 or x1 <= x0:
            return 0
        a = self.crop[y0 - self.y0 : y1 - self.y0, x0 - self.x0 : x1 - self.x0]
        b = other.crop[y0 - other.y0 : y1 - other.y0, x0 - other.x0 : x1 - other.x0]
        return int(np.count_nonzero(a & b))


def tile_detections(
    masks: np.ndarray, boxes, labels, scores, tile: Tile, height: int, width: int
) -> list[Detection]:
    """One tile's detections (masks (n, th, tw) bool in the tile's pixels, boxes xyxy there) in
    image pixels; empty masks are dropped."""
    inner = (tile.y0 > 0, tile.x0 > 0, tile.y1 < height, tile.x1 < width)  # top, left, bottom, right
    th, tw = tile.y1 - tile.y0, tile.x1 - tile.x0
    out = []
    for mask, box, label, score in zip(masks, boxes, labels, scores, strict=True):
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        if not rows.size:
            continue
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        cut = (inner[0] and r0 == 0) or (inner[1] and c0 == 0) or (inner[2] and r1 == th)
        cut = cut or (inner[3] and c1 == tw)
        x0, y0, x1, y1 = (float(v) for v in box)
        out.append(
            Detection(
                tile.y0 + int(r0),
                tile.x0 + int(c0),
                mask[r0:r1, c0:c1].copy(),
                (x0 + tile.x0, y0 + tile.y0, x1 + tile.x0, y1 + tile.y0),
                int(label),
                float(score),
                bool(cut),
            )
        )
    return out


def drop_duplicates(detections: list[Detection], per_label: bool = False) -> list[Detection]:
    """One detection per object (see the module docstring), highest score first; ``per_label``:
    only detections of the same label are duplicates (COCO evaluation's (object, class) pairs)."""
    order = sorted(detections, key=lambda d: (d.cut, -d.score))
    kept: list[Detection] = []
    extents = np.zeros((len(order), 5), np.int64)  # the kept ones' y0, x0, y1, x1, label
    for d in order:
        y1, x1 = d.y0 + d.crop.shape[0], d.x0 + d.crop.shape[1]
        k = extents[: len(kept)]
        near = (k[:, 0] < y1) & (k[:, 2] > d.y0) & (k[:, 1] < x1) & (k[:, 3] > d.x0)
        if per_label:
            near &= k[:, 4] == d.label
        if not any(_same_object(d, kept[j]) for j in np.flatnonzero(near)):
            extents[len(kept)] = d.y0, d.x0, y1, x1, d.label
            kept.append(d)
    return sorted(kept, key=lambda d: -d.score)


def _same_object(a: Detection, b: Detection) -> bool:
    shared = a.overlap(b)
    if not shared:
        return False
    area_a, area_b = a.area, b.area
    if shared >= DUPLICATE_COVER * min(area_a, area_b):
        return True
    return shared >= DUPLICATE_IOU * (area_a + area_b - shared)


def to_prediction(d: Detection, height: int, width: int) -> Prediction:
    mask = np.zeros((height, width), bool)
    mask[d.y0 : d.y0 + d.crop.shape[0], d.x0 : d.x0 + d.crop.shape[1]] = d.crop
    return Prediction(mask, d.box, d.label, d.score)
