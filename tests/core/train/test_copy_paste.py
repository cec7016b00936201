"""Copy-paste augmentation: pasted objects bring their pixels, masks and labels; what they cover is
taken from the target's objects; an object covered whole disappears from the training target."""

import random

import numpy as np

from istr_core.train.samples import copy_paste, training_sample


def square(shape, y0, x0, side):
    m = np.zeros(shape, np.uint8)
    m[y0 : y0 + side, x0 : x0 + side] = 1
    return m


def test_pasted_objects_cover_the_target_and_bring_their_labels():
    shape = (40, 40)
    target_image = np.full((*shape, 3), 10, np.uint8)
    target_masks = np.stack([square(shape, 15, 15, 10), square(shape, 0, 0, 4)])
    source_image = np.full((*shape, 3), 50, np.uint8)
    source_image[20:30, 20:30] = 200
    source_masks = square(shape, 20, 20, 10)[None]
    # same size, no jitter: the layer lands at the same place (the only offset that keeps it inside)
    image, masks, labels = copy_paste(
        (target_image, target_masks, np.array([0, 0])),
        (source_image, source_masks, np.array([1])),
        random.Random(0),
        scale=(1.0, 1.0),
    )
    assert labels.tolist() == [0, 0, 1] and masks.shape == (3, *shape)
    assert (image[20:30, 20:30] == 200).all()
    assert (image[masks[2] == 0] == 10).all()  # only the object is pasted, not its background
    assert masks[2].sum() == 100 and masks[0].sum() == 100 - 25  # the overlap went to the pasted one
    assert masks[1].sum() == 16


def test_an_object_covered_whole_is_dropped_from_the_training_target():
    shape = (16, 16)
    whole = np.ones((1, *shape), np.uint8)  # the source's one object fills its image
    image, masks, labels = copy_paste(
        (np.zeros((*shape, 3), np.uint8), square(shape, 4, 4, 4)[None], np.array([0])),
        (np.full((*shape, 3), 255, np.uint8), whole, np.array([2])),
        random.Random(0),
        scale=(1.0, 1.0),
    )
    assert masks[0].sum() == 0 and (image == 255).all()
    _, target = training_sample(image, masks, labels)
    assert target["labels"].tolist() == [2]


def test_a_scaled_layer_is_pasted_whole_inside_the_target():
    shape = (32, 48)
    source_masks = square(shape, 0, 0, 32)[None]
    for seed in range(5):
        image, masks, _ = copy_paste(
            (np.zeros((*shape, 3), np.uint8), np.zeros((0, *shape), np.uint8), np.zeros(0, np.int64)),
            (np.full((*shape, 3), 255, np.uint8), source_masks, np.array([1])),
            random.Random(seed),
            scale=(0.5, 0.5),
        )
        assert masks.shape == (1, *shape) and masks[0].sum() == 16 * 16  # half size, whole inside
        assert np.array_equal(image[..., 0] > 0, masks[0] > 0)  # the pasted pixels, nothing else


def test_a_source_without_objects_changes_nothing():
    target = (np.zeros((8, 8, 3), np.uint8), square((8, 8), 1, 1, 3)[None], np.array([0]))
    source = (np.ones((8, 8, 3), np.uint8), np.zeros((0, 8, 8), np.uint8), np.zeros(0, np.int64))
    assert copy_paste(target, source, random.Random(0)) is target
