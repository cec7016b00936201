"""Edge-snapping polygons: paths follow edges, windows, and the simulated anchor annotator."""

import cv2
import numpy as np
import pytest

from istr_core.interactive import Scissors, anchors_to_reach, mask_iou, scissors_path, simulate_anchors
from istr_core.interactive.scissors import AnchorAnnotator


def square_scene(shape=(120, 160), box=(40, 30, 120, 90), seed=0):
    """A bright square (x0, y0, x1, y1, end exclusive) on a dark, slightly noisy background."""
    rng = np.random.default_rng(seed)
    image = rng.integers(20, 45, (*shape, 3)).astype(np.uint8)
    x0, y0, x1, y1 = box
    image[y0:y1, x0:x1] = rng.integers(200, 225, (y1 - y0, x1 - x0, 3))
    truth = np.zeros(shape, bool)
    truth[y0:y1, x0:x1] = True
    return image, truth


def distance_to_border(points: np.ndarray, box) -> np.ndarray:
    """Each (x, y)'s distance to the outline of the box (the square's border pixels)."""
    x0, y0, x1, y1 = box
    x, y = points[:, 0].astype(float), points[:, 1].astype(float)
    inside = (x >= x0 - 0.5) & (x <= x1 - 0.5) & (y >= y0 - 0.5) & (y <= y1 - 0.5)
    to_edge = np.minimum.reduce([np.abs(x - x0), np.abs(x - (x1 - 1)), np.abs(y - y0), np.abs(y - (y1 - 1))])
    dx = np.maximum.reduce([x0 - x, np.zeros_like(x), x - (x1 - 1)])
    dy = np.maximum.reduce([y0 - y, np.zeros_like(y), y - (y1 - 1)])
    return np.where(inside, to_edge, np.hypot(dx, dy))


@pytest.mark.parametrize("window", [None, 512, 64])
def test_a_path_between_two_corners_runs_along_the_square(window):
    image, _ = square_scene()
    box = (40, 30, 120, 90)
    path = Scissors(image, window).path((40, 30), (119, 89))
    assert tuple(path[0]) == (40, 30) and tuple(path[-1]) == (119, 89)
    assert distance_to_border(path, box).max() <= 2
    steps = np.abs(np.diff(path, axis=0)).max(1)
    assert steps.max() <= 1  # 8-connected: no straight shortcut inside the window


def test_one_off_path_and_anchor_map_agree():
    image, _ = square_scene()
    scissors = Scissors(image)
    anchor = scissors.anchor(40, 60)
    assert np.array_equal(anchor.path_to(80, 30), scissors_path(image, (40, 60), (80, 30)))
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    assert distance_to_border(Scissors(grey).anchor(40, 60).path_to(80, 30), (40, 30, 120, 90)).max() <= 2


def test_a_target_outside_the_window_is_a_straight_line_away_and_clamped_to_the_image():
    image, _ = square_scene()
    anchor = Scissors(image, window=20).anchor(40, 60)  # the window: x 30..50, y 50..70
    path = anchor.path_to(119, 89)
    assert tuple(path[-1]) == (119, 89) and path[:-1, 0].max() <= 50 and path[:-1, 1].max() <= 70
    assert tuple(anchor.path_to(500, -9)[-1]) == (159, 0)
    with pytest.raises(ValueError):
        Scissors(image.astype(np.float32))


def test_the_annotator_reaches_the_iou_on_a_square_and_a_disc_with_few_anchors():
    image, truth = square_scene()
    assert anchors_to_reach(Scissors(image), truth, 0.9) <= 4
    disc = np.zeros((120, 160), np.uint8)
    cv2.circle(disc, (80, 60), 35, 1, -1)
    rng = np.random.default_rng(1)
    image = np.where(disc[..., None] > 0, 190, 50).astype(np.uint8).repeat(3, 2)
    image = np.clip(image + rng.integers(-12, 12, image.shape), 0, 255).astype(np.uint8)
    ious = simulate_anchors(Scissors(image), disc.astype(bool), 20, stop_at=0.95)
    assert len(ious) <= 8 and ious[-1] >= 0.95 and ious[0] == 0.0  # one anchor draws nothing


def test_the_annotator_adds_anchors_where_the_snapped_polygon_is_farthest():
    """An L shape: the extreme points cut its inner corner off; the next anchor goes there."""
    truth = np.zeros((120, 160), bool)
    truth[20:100, 30:60] = True
    truth[70:100, 30:130] = True
    image = np.where(truth[..., None], 210, 30).astype(np.uint8).repeat(3, 2)
    annotator = AnchorAnnotator(Scissors(image), truth)
    assert annotator.step(20) and annotator.anchors == annotator.start()
    first = annotator.iou()
    while annotator.iou() < 0.9 and annotator.step(20):
        pass
    assert annotator.iou() >= 0.9 > first and annotator.anchors <= 8
    assert mask_iou(annotator.mask(), truth) == pytest.approx(annotator.iou())


def test_every_large_part_gets_anchors_and_limits_hold():
    image, truth = square_scene(box=(10, 10, 60, 60))
    image[70:110, 100:150] = 215
    truth[70:110, 100:150] = True  # a second part, as big
    n = anchors_to_reach(Scissors(image), truth, 0.85)
    assert n is not None and 6 <= n <= 10
    assert anchors_to_reach(Scissors(image), truth, 0.85, max_anchors=3) is None
    assert anchors_to_reach(Scissors(image), np.zeros_like(truth), 0.85) == 0
    speck = np.zeros_like(truth)
    speck[5, 5] = True
    assert anchors_to_reach(Scissors(image), speck, 0.85) is None  # no outline to place anchors on
