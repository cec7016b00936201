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


def faint_scene(centres, shape=(160, 200), seed=0, contrast=25.0, noise=10.0):
    """Discs barely brighter than a noisy ground: their correlation with any template is low."""
    rng = np.random.default_rng(seed)
    image = rng.normal(60, noise, shape)
    masks = []
    for x, y in centres:
        m = np.zeros(shape, np.uint8)
        cv2.circle(m, (x, y), 9, 1, -1)
        masks.append(m.astype(bool))
        image[m.astype(bool)] += contrast
    image = np.repeat(image.clip(0, 255).astype(np.uint8)[..., None], 3, 2)
    return image, np.array(masks, bool)


def test_scores_relative_to_the_reviewed_objects_mean_the_same_on_a_faint_scene():
    """A threshold chosen on crisp images shows a faint scene's objects too when scores are relative
    to what the reviewed objects themselves reach on their own images."""
    centres = [(30, 30), (100, 40), (170, 30), (40, 120), (110, 120), (170, 120)]
    crisp, crisp_masks = scene(centres, seed=6)
    faint, faint_masks = faint_scene(centres, seed=7)
    for image, masks in ((crisp, crisp_masks), (faint, faint_masks)):
        reviewed = [(image, masks[:3], [0, 0, 0])]
        exemplars = Exemplars.from_reviewed(reviewed)
        plain = find_like(image, exemplars, taken=masks[:3].any(0), most=10)
        relative = find_like(image, exemplars, taken=masks[:3].any(0), most=10, reference=reviewed)
        right = [p for p in relative if max(mask_iou(p.mask, t) for t in masks[3:]) >= 0.5]
        assert len(right) == 3 and all(p.score >= 0.7 for p in right)  # shown at a crisp scene's 0.7
        assert all(0 < p.score <= 1 for p in relative)
        if image is faint:  # by their bare correlation they would not be
            raw = {(p.box, p.label): p.score for p in plain}
            assert all(raw[(p.box, p.label)] < 0.7 for p in right)


def test_outlining_in_threads_finds_the_same_as_one_thread():
    reviewed, masks = scene([(30, 30), (100, 50), (160, 120)], seed=1)
    exemplars = Exemplars.from_reviewed([(reviewed, masks, [0, 0, 0])])
    image, _ = scene([(40, 110), (90, 120), (150, 40), (60, 60), (120, 90)], seed=2)
    one = find_like(image, exemplars, workers=1)
    many = find_like(image, exemplars, workers=3)
    assert len(one) == 5 and len(many) == len(one)
    for a, b in zip(one, many, strict=True):
        assert np.array_equal(a.mask, b.mask) and a.box == b.box and a.score == b.score
