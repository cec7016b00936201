"""Tiled prediction: the tiles' geometry and the merge of their detections to one per object."""

import numpy as np

from istr_core.predict.tiles import TILE_OVERLAP, Detection, drop_duplicates, tile_detections, tile_grid


def test_tiles_are_the_training_crops_size_and_overlap():
    assert tile_grid(96, 128, 1.0) == tile_grid(96, 128, 0.5) == [tile_grid(96, 128, 1.0)[0]]
    (whole,) = tile_grid(96, 128, 1.0)
    assert (whole.y0, whole.x0, whole.y1, whole.x1) == (0, 0, 96, 128)
    tiles = tile_grid(768, 1024, 2.6)
    sides = {(t.y1 - t.y0, t.x1 - t.x0) for t in tiles}
    assert sides == {(296, 394)}  # ceil(768 / 2.6), ceil(1024 / 2.6)
    assert len(tiles) == 9  # 3 per side overlap by >= a sixth of a tile
    rows = sorted({(t.y0, t.y1) for t in tiles})
    assert rows[0][0] == 0 and rows[-1][1] == 768
    assert all(a[1] - b[0] >= TILE_OVERLAP * 296 for a, b in zip(rows, rows[1:], strict=False))
    assert len(tile_grid(400, 1280, 1.3)) == 4  # just over 1x: two per side


def det(y0, x0, h, w, score, cut=False, label=0, hole=False):
    crop = np.ones((h, w), bool)
    if hole:
        crop[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = False
    return Detection(y0, x0, crop, (x0, y0, x0 + w, y0 + h), label, score, cut)


def test_one_detection_per_object_whole_ones_first():
    whole = det(10, 10, 20, 20, 0.5)
    cut = det(10, 10, 20, 12, 0.9, cut=True)  # the same object cut by a tile's edge, scored higher
    copy = det(11, 11, 20, 20, 0.4)  # a near-copy from the model
    other = det(50, 50, 10, 10, 0.3)
    kept = drop_duplicates([cut, copy, other, whole])
    assert kept[0] is whole and kept[1] is other and len(kept) == 2
    # a mask that covers most of a smaller one is the same object; a ring around a hole is not
    big = det(0, 0, 20, 20, 0.9)
    assert drop_duplicates([big, det(5, 5, 8, 8, 0.8)]) == [big]
    assert len(drop_duplicates([det(0, 0, 20, 20, 0.9, hole=True), det(7, 7, 6, 6, 0.8)])) == 2
    # COCO's (object, class) pairs: the same mask under another class is not a duplicate
    assert len(drop_duplicates([det(0, 0, 9, 9, 0.9), det(0, 0, 9, 9, 0.8, label=1)], per_label=True)) == 2


def test_tile_detections_are_in_image_pixels_and_know_their_cut():
    tile = max((t for t in tile_grid(100, 100, 2.0) if t.y0 == 0), key=lambda t: t.x0)  # top right
    masks = np.zeros((3, tile.y1 - tile.y0, tile.x1 - tile.x0), bool)
    masks[0, 5:10, 0:4] = True  # touches the tile's left edge, inside the image
    masks[1, 0:4, 10:14] = True  # touches the image's top: whole
    boxes = [(0, 5, 4, 10), (10, 0, 14, 4), (0, 0, 0, 0)]
    out = tile_detections(masks, boxes, [0, 0, 0], [0.9, 0.8, 0.7], tile, 100, 100)
    assert len(out) == 2  # the empty mask is dropped
    assert (out[0].y0, out[0].x0, out[0].cut) == (5, tile.x0, True)
    assert (out[1].y0, out[1].x0, out[1].cut) == (0, tile.x0 + 10, False)
    assert out[1].box == (tile.x0 + 10, 0, tile.x0 + 14, 4)
