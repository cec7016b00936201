"""COCO run-length encoding, the one home of every mask <-> RLE conversion in the project.

An RLE here is COCO's compressed form with a JSON-ready string: ``{"size": [h, w], "counts": str}``.
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils


def mask_to_rle(mask: np.ndarray) -> dict:
    """Binary HxW mask -> COCO compressed RLE with a JSON-ready ``counts`` string."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"]}


def masks_to_annotations(masks: list[np.ndarray]) -> list[tuple[dict, list[float], float] | None]:
    """Many HxW masks of one image -> per mask (compressed RLE, tight xywh box, area), or None for an
    empty mask; equal to ``mask_to_rle`` / ``mask_bbox_xywh`` / ``mask.sum()`` per mask.

    Why not simply those: each scans and copies the full image, several times per mask, and with ~100
    masks per image that was a sixth of ``istr segment``'s time on a 2-core CPU. Here each mask is
    scanned once to find its columns, and the runs are computed on the strip of columns it occupies
    (column-major order, as COCO RLE is): the columns left and right of it are one run of zeros each.
    """
    return [_strip_annotation(m) for m in masks]


def _strip_annotation(mask: np.ndarray) -> tuple[dict, list[float], float] | None:
    h, w = mask.shape
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size == 0:
        return None
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    strip = mask[:, x0:x1]
    rows = np.flatnonzero(strip.any(axis=1))
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    flat = np.ascontiguousarray(strip.T).ravel().view(np.uint8)  # column-major pixels of the strip
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(edges).tolist()
    if flat[0]:  # RLE starts with a run of zeros
        runs.insert(0, 0)
    runs[0] += x0 * h  # the empty columns before the strip
    if flat[-1]:
        if x1 < w:
            runs.append((w - x1) * h)
    else:
        runs[-1] += (w - x1) * h
    area = float(sum(runs[1::2]))
    rle = mask_utils.frPyObjects({"size": [h, w], "counts": runs}, h, w)
    return (
        {"size": [int(h), int(w)], "counts": rle["counts"].decode("ascii")},
        [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
        area,
    )


def rle_to_mask(rle: dict) -> np.ndarray:
    """COCO RLE (compressed or uncompressed) -> bool HxW mask."""
    if isinstance(rle.get("counts"), list):
        rle = mask_utils.frPyObjects(rle, *rle["size"])
    return mask_utils.decode(rle).astype(bool)


def mask_bbox_xywh(mask: np.ndarray) -> list[float]:
    """Tight COCO box (x, y, w, h) of a binary mask; zeros for an empty mask."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
