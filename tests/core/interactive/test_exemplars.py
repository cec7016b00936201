"""Exemplar pre-labels: objects like the reviewed ones found in a new image of the same scene."""

from __future__ import annotations

import cv2
import numpy as np

from istr_core.interactive.clicker import mask_iou
from istr_core.interactive.exemplars import Exemplars, correlation_peaks, find_like


def scene(centres, shape=(160, 200), seed=0, squares=()):
    """Bright discs (radius 9) and, where asked, dark-ringed bright squares on a noisy grey ground:
    the image and each object's mask, discs first."""
    rng = np.random.default_rng(seed)
    image = rng.normal(60, 6, shape).clip(0, 255).astype(np.uint8)
    masks = []
    for x, y in centres:
        m = np.zeros(shape, np.uint8)
        cv2.circle(m, (x, y), 9, 1, -1)
        masks.append(m.astype(bool))
    for x, y in squares:
        m = np.zeros(shape, bool)
        m[y - 8 : y + 8, x - 8 : x + 8] = True
        masks.append(m)
    for m in masks:
        image[m] = 200
    return np.repeat(image[..., None], 3, 2), np.array(masks, bool).reshape(len(masks), *shape)


def test_objects_like_the_reviewed_ones_are_found_and_outlined():
    reviewed, masks = scene([(30, 30), (100, 50), (160, 120)], seed=1)
    exemplars = Exemplars.from_reviewed([(reviewed, masks, [0, 0, 0])])
    new = [(40, 110), (90, 120), (150, 40), (60, 60)]
    image, truth = scene(new, seed=2)
    found = find_like(image, exemplars)
    assert len(found) == len(new)  # one each, no copies, nothing on the bare ground
    for p in found:
        assert max(mask_iou(p.mask, t) for t in truth) >= 0.85
        assert p.label == 0 and 0.05 <= p.score <= 1.0
    assert [p.score for p in found] == sorted((p.score for p in found), reverse=True)
    # an image with none of them: no correlation is a disc's, so nothing like them is outlined
    bare, _ = scene([], seed=3)
    assert all(score < 0.5 for score, _, _ in correlation_peaks(bare, exemplars.classes[0]))


def test_each_class_is_found_as_its_own_and_nothing_reviewed_gives_no_exemplars():
    reviewed, masks = scene([(30, 30), (100, 50)], squares=[(160, 120), (40, 120)], seed=4)
    exemplars = Exemplars.from_reviewed([(reviewed, masks, [0, 0, 1, 1])])
    assert [c.label for c in exemplars.classes] == [0, 1] and exemplars.most_objects == 4
    image, truth = scene([(150, 40)], squares=[(60, 100)], seed=5)
    found = find_like(image, exemplars)
    by_label = {p.label: p for p in found if p.score >= 0.5}
    assert mask_iou(by_label[0].mask, truth[0]) >= 0.85 and mask_iou(by_label[1].mask, truth[1]) >= 0.85
    assert Exemplars.from_reviewed([(reviewed, np.zeros((0, *masks.shape[1:]), bool), [])]) is None
