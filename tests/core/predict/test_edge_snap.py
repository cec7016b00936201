"""Pre-label outlines snapped to the image's edge: a coarse mask of a blob becomes the blob, and a
mask with no edge to snap to, or a region that is another object, is left as it was."""

from __future__ import annotations

import cv2
import numpy as np

from istr_core.predict.edge_snap import snap_to_edges


def disc(shape, centre, radius) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def iou(a, b) -> float:
    return np.count_nonzero(a & b) / np.count_nonzero(a | b)


def blob_image(truths, bright: bool, shape=(64, 96)) -> np.ndarray:
    """Soft-edged blobs on a noisy background, bright on dark or dark on bright."""
    rng = np.random.default_rng(0)
    inside = np.zeros(shape, np.float32)
    for t in truths:
        inside[t] = 1.0
    inside = cv2.GaussianBlur(inside, (0, 0), 1.0)
    grey = 40 + 150 * inside if bright else 210 - 150 * inside
    grey = np.clip(grey + rng.normal(0, 4, shape), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def test_a_mask_a_pixel_too_wide_or_narrow_snaps_to_the_blob_either_polarity():
    shape = (64, 96)
    truths = [disc(shape, (20, 20), 6), disc(shape, (40, 65), 9)]
    wide, narrow = disc(shape, (20, 20), 7), disc(shape, (40, 65), 8)  # IoU 0.76 and 0.78
    for bright in (True, False):
        snapped = snap_to_edges(blob_image(truths, bright), [wide, narrow])
        assert iou(wide, truths[0]) < 0.8 and iou(snapped[0], truths[0]) >= 0.9
        # a narrow mask's ring lies on the blob's soft edge, so the level is a little high: it grows
        # less (to about the annotator's 0.85)
        assert iou(narrow, truths[1]) < 0.8 and iou(snapped[1], truths[1]) >= iou(narrow, truths[1]) + 0.06
        assert all(m.dtype == bool for m in snapped)


def test_no_edge_or_another_object_leaves_the_mask_as_it_was():
    shape = (64, 96)
    flat = np.full((*shape, 3), 120, np.uint8)
    mask = disc(shape, (30, 30), 8)
    assert snap_to_edges(flat, [mask])[0] is mask  # no contrast: nothing to snap to
    # a mask on a corner of a large blob: the blob's region disagrees with it (IoU < 0.6)
    big = disc(shape, (32, 48), 28)
    corner = disc(shape, (10, 48), 5) & big
    assert snap_to_edges(blob_image([big], True), [corner])[0] is corner
    # a speck and an empty mask pass through; no masks, no work
    speck = np.zeros(shape, bool)
    speck[5, 5] = True
    assert snap_to_edges(flat, [speck])[0] is speck
    assert snap_to_edges(flat, []) == []


def test_a_hole_in_the_thresholded_region_is_filled():
    shape = (64, 64)
    ring = disc(shape, (32, 32), 12)
    image = blob_image([ring], True, shape)
    image[28:37, 28:37] = 45  # a dark pit inside the bright blob (a nucleolus, a droplet's centre)
    snapped = snap_to_edges(image, [disc(shape, (32, 32), 14)])[0]
    assert snapped[32, 32] and iou(snapped, ring) >= 0.85
