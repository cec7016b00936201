"""The simulated annotator's accounting on hand-made cases (issue: annotator seconds per object)."""

from __future__ import annotations

import numpy as np
import pytest

from istr_core.eval.annotation_cost import CostModel, greedy_match, mask_iou_matrix, review_image


def box(x0, y0, x1, y1, shape=(40, 40)):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


A, B, C = box(0, 0, 10, 10), box(20, 20, 30, 30), box(0, 25, 10, 35)


def test_accept_fix_delete_and_miss_are_priced_separately():
    near_a = box(0, 0, 10, 11)  # IoU 10/11 = 0.91: accepted
    coarse_b = box(20, 20, 30, 35)  # IoU 100/150 = 0.67: fixed
    stray = box(12, 0, 18, 6)  # touches nothing: deleted
    r = review_image([near_a, coarse_b, stray], [0.9, 0.8, 0.7], [A, B, C])
    assert (r.objects, r.accepted, r.fixed, r.deleted, r.missed) == (3, 1, 1, 1, 1)
    assert r.seconds == pytest.approx(1 + 79 + 2 + 79)
    assert r.polygons == 2 and r.clicks == 0


def test_click_pricing_replaces_polygons_until_the_click_limit():
    coarse_b = box(20, 20, 30, 35)
    calls = []

    def clicks(start, truth):
        calls.append(start is None)
        return 3 if start is not None else 25  # the fix takes 3 clicks; the missed object never gets there

    r = review_image([coarse_b], [0.9], [B, C], clicks_to_reach=clicks)
    assert calls == [False, True]
    assert (r.fixed, r.missed, r.clicks, r.polygons) == (1, 1, 3, 1)
    assert r.seconds == pytest.approx(3 * 2 + 79)


def test_matching_is_one_to_one_greedy_by_score():
    # two predictions on the same object: the higher score takes it, the other is deleted
    r = review_image([box(0, 0, 10, 11), A], [0.3, 0.9], [A])
    assert (r.accepted, r.deleted, r.missed) == (1, 1, 0)
    assert r.matched_iou == [1.0]
    assert greedy_match(mask_iou_matrix([A, A], [A]), [0.3, 0.9], 0.5) == [(1, 0)]


def test_empty_images_cost_only_deletions():
    assert review_image([], [], []).seconds == 0
    r = review_image([A, B], [0.5, 0.4], [])
    assert (r.objects, r.deleted, r.seconds) == (0, 2, 4.0)
    r = review_image([], [], [A])
    assert (r.missed, r.seconds) == (1, 79.0)


def test_thresholds_come_from_the_cost_model():
    coarse = box(0, 0, 10, 12)  # IoU 0.833: a fix at 0.85, accepted at 0.8
    assert review_image([coarse], [1.0], [A]).fixed == 1
    assert review_image([coarse], [1.0], [A], CostModel(accept_iou=0.8)).accepted == 1


def test_mismatched_scores_are_an_error():
    with pytest.raises(ValueError, match="scores"):
        review_image([A], [], [A])


def test_a_kept_mask_of_the_wrong_class_is_relabelled():
    r = review_image([A, B], [0.9, 0.8], [A, B], pred_labels=[0, 1], true_labels=[0, 2])
    assert (r.accepted, r.relabelled) == (2, 1)
    assert r.seconds == pytest.approx(1 + 1 + 2)


def test_iou_matrix_is_the_dense_product_bit_for_bit():
    rng = np.random.default_rng(0)
    for _ in range(20):
        h, w = rng.integers(1, 50, 2)
        pred = [rng.random((h, w)) < rng.random() * 0.3 for _ in range(rng.integers(1, 6))]
        true = [rng.random((h, w)) < rng.random() * 0.3 for _ in range(rng.integers(1, 6))]
        pred[0][:] = False  # an empty mask has IoU 0 with everything
        p = np.stack([m.reshape(-1) for m in pred]).astype(np.float32)
        t = np.stack([m.reshape(-1) for m in true]).astype(np.float32)
        inter = p @ t.T
        union = p.sum(1)[:, None] + t.sum(1)[None, :] - inter
        dense = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
        got = mask_iou_matrix(pred, true)
        assert got.dtype == dense.dtype and np.array_equal(got, dense)


def test_a_precomputed_iou_matrix_must_fit():
    assert review_image([A], [0.9], [A], iou=mask_iou_matrix([A], [A])).accepted == 1
    with pytest.raises(ValueError, match="iou"):
        review_image([A], [0.9], [A, B], iou=np.zeros((1, 1)))
