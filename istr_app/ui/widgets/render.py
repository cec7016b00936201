"""Mask -> coloured translucent RGBA overlay with outlines (numpy/cv2, no Qt).

Built once per change by the canvas and cached as a QImage; never called from paintEvent.
"""

from __future__ import annotations

import weakref

import cv2
import numpy as np

PALETTE = np.array(
    [
        (230, 25, 75),
        (60, 180, 75),
        (255, 225, 25),
        (0, 130, 200),
        (245, 130, 48),
        (145, 30, 180),
        (70, 240, 240),
        (240, 50, 230),
        (210, 245, 60),
        (250, 190, 212),
        (0, 128, 128),
        (170, 110, 40),
    ],
    np.uint8,
)


_COLOURS = [tuple(int(v) for v in rgb) for rgb in PALETTE]


def instance_colour(instance_id: int) -> tuple[int, int, int]:
    return _COLOURS[instance_id % len(_COLOURS)]


def render_overlay(shape: tuple[int, int], instances, selected: set[int], alpha: int = 120) -> np.ndarray:
    """(H, W, 4) uint8 RGBA: each instance filled with its colour at ``alpha``, outlined opaque;
    selected instances are filled stronger and outlined in white so they stand out.

    Work is done on each mask's bounding box only, so many small objects on a large photo stay cheap.
    """
    h, w = shape
    out = np.zeros((h, w, 4), np.uint8)
    thickness = max(1, round(max(h, w) / 500))
    ordered = [i for i in instances if i.id not in selected] + [i for i in instances if i.id in selected]
    for inst in ordered:  # the selection last, so overlapping predictions never hide it
        if inst.mask.shape != (h, w):
            continue
        geometry = _geometry(inst, 2 * thickness)
        if geometry is None:
            continue
        (x0, y0, x1, y1), contours = geometry
        m, crop = inst.mask[y0:y1, x0:x1], out[y0:y1, x0:x1]
        sel = inst.id in selected
        colour = instance_colour(inst.id)
        crop[m] = (*colour, min(255, alpha + 70) if sel else alpha)
        outline = (255, 255, 255, 255) if sel else (*colour, 255)
        cv2.drawContours(crop, contours, -1, outline, thickness * (2 if sel else 1))
    return out


# Instance -> (key, geometry). The box and outline of a mask cost a scan of the whole image; the
# overlay is rebuilt on every edit, selection and slider move, and one edit changes one mask, so
# they are cached per mask version (weakly: deleted instances drop out).
_GEOMETRY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _geometry(inst, pad: int):
    """((x0, y0, x1, y1) padded box, contours relative to it) of the mask, or None when empty."""
    key = (inst.version, id(inst.mask), inst.mask.shape, pad)
    cached = _GEOMETRY.get(inst)
    if cached is not None and cached[0] == key:
        return cached[1]
    h, w = inst.mask.shape
    x, y, bw, bh = cv2.boundingRect(inst.mask.view(np.uint8))
    geometry = None
    if bw:
        x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(w, x + bw + pad), min(h, y + bh + pad)
        contours, _ = cv2.findContours(
            inst.mask[y0:y1, x0:x1].astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE
        )
        geometry = ((x0, y0, x1, y1), contours)
    _GEOMETRY[inst] = (key, geometry)
    return geometry
