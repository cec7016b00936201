"""Qt-free tests of the mask geometry behind the brush, polygon, vertex and box tools."""

import numpy as np

from istr_app.core.geometry import (
    nearest_edge,
    nearest_vertex,
    outer_polygons,
    polygon_mask,
    replace_polygon,
    stroke_mask,
)


def test_stroke_covers_path_with_radius():
    m = stroke_mask((50, 50), [(10, 10), (40, 10)], 3)
    assert m[10, 10] and m[10, 25] and m[12, 40] and not m[20, 25]


def test_polygon_mask_and_degenerate():
    m = polygon_mask((20, 20), [(2, 2), (12, 2), (12, 12), (2, 12)])
    assert m[5, 5] and not m[15, 15] and m.sum() == 121
    assert not polygon_mask((20, 20), [(1, 1), (5, 5)]).any()


def test_vertex_move_keeps_hole():
    mask = np.zeros((60, 60), bool)
    mask[10:50, 10:50] = True
    mask[25:35, 25:35] = False  # a hole
    (poly,) = outer_polygons(mask)
    assert len(poly) == 4
    k = nearest_vertex(poly, 49, 49, 3)
    new = poly.copy()
    new[k] = (55, 55)
    out = replace_polygon(mask, poly, new)
    assert out[52, 52] and not out[30, 30] and out[15, 15]
    unchanged = replace_polygon(mask, poly, poly)
    assert (unchanged != mask).sum() < 0.02 * mask.sum()


def test_nearest_edge():
    poly = np.array([(0, 0), (10, 0), (10, 10), (0, 10)], float)
    assert nearest_edge(poly, 5, 0.5, 1) == 0 and nearest_edge(poly, 5, 5, 1) is None
