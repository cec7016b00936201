"""A click on a rim grows the mask across it (rim.py), and nothing else does."""

import cv2
import numpy as np

from istr_core.interactive import Click, WeightFreeSegmenter, clicks_to_reach, enforce_clicks, simulate
from istr_core.interactive.colour import colour_gradient
from istr_core.interactive.rim import grown_to_rim
from istr_core.interactive.weightfree import _grey


def ringed_disc(ring_grey: int, inner=12, outer=17, shape=(80, 80)) -> tuple[np.ndarray, ...]:
    """A bright disc (grey 170) of radius ``inner`` inside a band of ``ring_grey`` out to ``outer``,
    on a ground of 130, lightly blurred: the image, the inner disc and the whole disc."""
    centre = (shape[1] // 2, shape[0] // 2)
    grey = np.full(shape, 130, np.uint8)
    cv2.circle(grey, centre, outer, ring_grey, -1)
    cv2.circle(grey, centre, inner, 170, -1)
    grey = cv2.GaussianBlur(grey, (0, 0), 0.8)
    discs = []
    for r in (inner, outer):
        m = np.zeros(shape, np.uint8)
        cv2.circle(m, centre, r, 1, -1)
        discs.append(m.astype(bool))
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), discs[0], discs[1]


def grow(image: np.ndarray, prev: np.ndarray, click: Click) -> np.ndarray | None:
    return grown_to_rim(_grey(image), colour_gradient(image), prev, [click], enforce_clicks)


def test_a_click_on_a_dark_rim_grows_the_mask_to_the_rims_outer_edge():
    image, inside, whole = ringed_disc(ring_grey=80)
    grown = grow(image, inside, Click(True, 40, 40 - 15))  # on the band, 3 px outside the inside
    assert grown is not None
    inter, union = (grown & whole).sum(), (grown | whole).sum()
    assert inter / union >= 0.9, inter / union
    assert not grow(image, inside, Click(False, 40, 25)), "a negative click never grows"


def test_a_band_between_inside_and_ground_is_an_edge_not_a_rim():
    # the band's grey (150) lies between the inside (170) and the ground (130): a soft edge
    image, inside, _ = ringed_disc(ring_grey=150)
    assert grow(image, inside, Click(True, 40, 25)) is None


def test_a_rim_on_one_side_only_is_not_a_rim():
    image, inside, _ = ringed_disc(ring_grey=80)
    image[:, :40] = np.where(inside[:, :40, None], image[:, :40], 130)  # the left half's band gone
    assert grow(image, inside, Click(True, 55, 40)) is None


def test_droplets_drawn_on_their_dark_rim_in_a_crowded_frame_take_four_clicks_at_most(droplets_dir):
    """video2image100.jpg (101 droplets): the six annotated on the outer edge of their dark rim took
    12-20 clicks each (a rim click added only its own pixels); now 2-4."""
    from istr_core.data.images import read_image
    from istr_core.data.rle import annotation_mask
    from istr_core.formats.coco import load_coco

    image = next(
        i
        for i in load_coco(droplets_dir / "train.json", droplets_dir / "images").images
        if i.file_name == "video2image100.jpg"
    )
    seg = WeightFreeSegmenter(read_image(droplets_dir / "images" / image.file_name))
    nocs = []
    for k in range(6):
        truth = annotation_mask(image.annotations[k], image.height, image.width).astype(bool)
        nocs.append(clicks_to_reach(simulate(seg.predict, truth, 20, stop_at=0.85), 0.85))
    assert max(nocs) <= 4, nocs
