"""The pre-label gate on hand-made cases (issue 27): pre-labels that cost more than clicking are
hidden, right ones are shown, the threshold chosen is the cheapest, a change of scene is followed."""

from __future__ import annotations

import numpy as np
import pytest

from istr_core.eval.annotation_cost import review_image
from istr_core.eval.gate import (
    THRESHOLDS,
    GateDecision,
    PrelabelGate,
    PricedImage,
    price_outlines,
    price_thresholds,
)


def box(x0, y0, x1, y1, shape=(60, 60)):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


TRUTH = [box(0, 0, 10, 10), box(20, 20, 30, 30), box(40, 40, 50, 50)]
SPURIOUS = [box(0, 30, 8, 38), box(30, 0, 38, 8), box(50, 10, 58, 18), box(12, 45, 18, 52)]


def two_clicks(start, truth):
    """Every object takes 2 clicks from nothing, a fix 1."""
    return 2 if start is None else 1


def gate_after(*images, window=3):
    gate = PrelabelGate(window)
    for k, (masks, scores) in enumerate(images):
        reviews = price_thresholds(masks, scores, TRUTH, None, two_clicks, thresholds=gate.thresholds)
        gate.add(PricedImage.from_reviews(f"image{k}", reviews))
    return gate.decision


def test_all_spurious_pre_labels_are_hidden():
    d = gate_after((SPURIOUS, [0.99, 0.7, 0.5, 0.3]))
    assert d.hidden and d.threshold is None
    assert d.clicks_seconds_per_object == pytest.approx(4.0)  # 2 clicks of 2 s per object
    # at best (0.75-0.95: the middle one) one spurious mask is shown: 2 s to delete it, then every
    # object clicked
    assert d.best_threshold == 0.85 and d.best_seconds_per_object == pytest.approx(14 / 3)
    assert d.line() == (
        "pre-labels hidden: 4.7 s/object at best (threshold 0.85) against 4.0 by clicking "
        "(last 1 reviewed image)"
    )
    # a threshold above every score shows nothing, which costs what clicking does: clicking wins
    d = gate_after((SPURIOUS, [0.9, 0.7, 0.5, 0.3]))
    assert d.hidden and d.line().startswith("pre-labels hidden: no threshold saves time (4.0 by clicking")


def test_right_pre_labels_are_shown():
    d = gate_after((TRUTH, [0.8, 0.7, 0.6]))
    # at any threshold <= 0.6 every object is accepted: 1 s each, against 4 s by clicking
    assert not d.hidden and d.threshold <= 0.6
    assert d.seconds_per_object == pytest.approx(1.0)
    assert d.line().startswith(f"threshold {d.threshold:.2f}: 1.0 s/object against 4.0 by clicking")


def test_the_threshold_chosen_is_the_cheapest():
    coarse = box(20, 20, 30, 35)  # IoU 0.67 with the second object: a 1-click fix
    masks = [TRUTH[0], coarse, TRUTH[2], *SPURIOUS]
    scores = [0.9, 0.8, 0.72, 0.42, 0.4, 0.3, 0.2]
    reviews = price_thresholds(masks, scores, TRUTH, clicks_to_reach=two_clicks)
    seconds = {t: r.seconds for t, r in reviews.items()}
    best = min(seconds[t] for t in THRESHOLDS)
    d = gate_after((masks, scores))
    assert seconds[d.threshold] == best == pytest.approx(1 + 2 + 1)  # accept, fix, accept
    assert 0.45 <= d.threshold <= 0.7  # above every spurious score, at or below every right one
    assert seconds[None] == pytest.approx(12.0) and d.best_threshold == d.threshold


def test_each_threshold_is_priced_as_a_review_at_that_threshold():
    masks, scores = [TRUTH[0], box(20, 20, 30, 35), *SPURIOUS], [0.9, 0.6, 0.5, 0.4, 0.3, 0.1]
    labels, true_labels = [0, 1, 0, 0, 1, 1], [0, 0, 1]
    calls = []

    def counting(start, truth):
        calls.append((start is None, truth.sum()))
        return two_clicks(start, truth)

    reviews = price_thresholds(masks, scores, TRUTH, None, counting, labels, true_labels)
    for t in THRESHOLDS:
        keep = [k for k, s in enumerate(scores) if s >= t]
        alone = review_image(
            [masks[k] for k in keep],
            [scores[k] for k in keep],
            TRUTH,
            clicks_to_reach=two_clicks,
            pred_labels=[labels[k] for k in keep],
            true_labels=true_labels,
        )
        assert reviews[t] == alone
    assert reviews[None] == review_image([], [], TRUTH, clicks_to_reach=two_clicks)
    # counted once per (start, truth) pair whatever the number of thresholds: 3 objects from nothing
    # and one fix
    assert len(calls) == 4


def test_a_change_of_scene_is_followed_within_the_window():
    good, bad = (TRUTH, [0.8, 0.7, 0.6]), (SPURIOUS, [0.9, 0.7, 0.5, 0.3])
    assert not gate_after(good, good, window=2).hidden
    assert not gate_after(good, good, bad, window=2).hidden  # one bad image among two good: still cheaper
    assert gate_after(good, good, bad, bad, window=2).hidden
    assert not gate_after(bad, bad, good, good, window=2).hidden


def sized(masks, scores, size, key, gate):
    reviews = price_thresholds(masks, scores, TRUTH, None, two_clicks, thresholds=gate.thresholds)
    return PricedImage.from_reviews(key, reviews, size=size)


def test_a_new_image_size_after_a_run_of_one_size_is_decided_on_its_own_size():
    good, bad = (TRUTH, [0.8, 0.7, 0.6]), (SPURIOUS, [0.9, 0.7, 0.5, 0.3])
    gate, small, large = PrelabelGate(window=2), (60, 60), (90, 120)
    gate.add(sized(*bad, large, "l0", gate))  # an earlier scene of the large size, priced bad
    gate.add(sized(*good, small, "s0", gate))
    gate.add(sized(*good, small, "s1", gate))
    assert not gate.focus(small).hidden  # the next small image: the last two, good
    d = gate.focus(large)  # large after a run of small: decided on the large image seen before
    assert d.hidden and d.images == 1 and not d.new_scene
    d = gate.focus((30, 40))  # a size never priced after the run: nothing shown, weight-free clicks
    assert d.hidden and d.new_scene and d.weight_free
    assert d.line() == "pre-labels hidden: a new image size, none of it reviewed yet; click tool: no model"
    # once one image of the new size is priced the last two are mixed in size: the plain rule again
    assert gate.add(sized(*good, (30, 40), "n0", gate)) == gate.focus((30, 40))
    assert not gate.decision.hidden and gate.decision.images == 2 and gate.focus(large) == gate.decision


def test_without_sizes_or_in_mixed_sizes_the_gate_decides_on_the_last_images():
    good, bad = (TRUTH, [0.8, 0.7, 0.6]), (SPURIOUS, [0.9, 0.7, 0.5, 0.3])
    gate = PrelabelGate(window=2)
    for k, size in enumerate([(60, 60), (90, 120), (60, 60)]):
        gate.add(sized(*(bad if k == 0 else good), size, f"i{k}", gate))
    mixed = gate.focus((30, 40))
    assert not mixed.hidden and mixed.images == 2  # the last two differ in size: no run, no new scene
    unsized = PrelabelGate(window=2)
    for k in range(2):
        unsized.add(sized(*good, None, f"u{k}", unsized))
    assert unsized.focus((30, 40)) == unsized.focus(None) and not unsized.decision.hidden


def test_before_any_review_the_default_threshold_and_bad_input():
    gate = PrelabelGate(3, default=0.33)
    assert gate.decision == GateDecision(0.33, click_path="weight-free") and 0.33 in gate.thresholds
    assert PrelabelGate(3, 0.33, choose_click_path=False).decision == GateDecision(0.33)
    assert "no reviewed image priced yet" in gate.decision.line()
    hidden = PrelabelGate(3, default=None)  # the default model's choice: nothing shown until priced
    assert hidden.decision.hidden and hidden.thresholds == THRESHOLDS
    assert (
        hidden.decision.line()
        == "pre-labels hidden until a reviewed image prices them; click tool: no model yet"
    )
    with pytest.raises(ValueError, match="not priced"):
        gate.add(PricedImage("x", 1, {None: 2.0, 0.5: 1.0}))
    with pytest.raises(ValueError, match="window"):
        PrelabelGate(0)
    with pytest.raises(ValueError, match="scores"):
        price_thresholds([TRUTH[0]], [], TRUTH)


def test_an_image_without_objects_or_predictions():
    reviews = price_thresholds([], [], [], clicks_to_reach=two_clicks)
    assert all(r.seconds == 0 for r in reviews.values())
    reviews = price_thresholds(SPURIOUS, [0.9, 0.7, 0.5, 0.3], [], clicks_to_reach=two_clicks)
    assert reviews[None].seconds == 0 and reviews[0.05].seconds == 8.0  # four deletions


def one_click(start, truth):
    return 1


def three_clicks(start, truth):
    return 3


def priced_both(key, masks, scores, model_counter, free_counter, thresholds):
    by_model = price_thresholds(masks, scores, TRUTH, None, model_counter, thresholds=thresholds)
    free = price_thresholds(masks, scores, TRUTH, None, free_counter, thresholds=thresholds)
    return PricedImage.from_reviews(key, by_model, free)


def test_the_click_path_that_clicks_cheaper_is_chosen():
    gate = PrelabelGate(2)
    # spurious pre-labels, 3 clicks per object with the model's path, 1 without it
    d = gate.add(priced_both("a", SPURIOUS, [0.9, 0.7, 0.5, 0.3], three_clicks, one_click, gate.thresholds))
    assert d.hidden and d.weight_free and d.click_path == "weight-free"
    assert d.clicks_seconds_per_object == pytest.approx(2.0)  # the chosen path's prices
    assert d.other_path_seconds_per_object == pytest.approx(6.0)
    assert d.line().endswith("; click tool: no model (6.0 s/object with it)")
    # the other way round the model's path is kept, and the line says nothing of paths
    gate = PrelabelGate(2)
    d = gate.add(priced_both("a", SPURIOUS, [0.9, 0.7, 0.5, 0.3], one_click, three_clicks, gate.thresholds))
    assert d.click_path == "model" and not d.weight_free and "model" not in d.line()
    # a tie goes to the weight-free path (it needs no model)
    gate = PrelabelGate(2)
    d = gate.add(priced_both("a", TRUTH, [0.8, 0.7, 0.6], two_clicks, two_clicks, gate.thresholds))
    assert d.weight_free and not d.hidden and d.seconds_per_object == pytest.approx(1.0)


def test_the_path_is_chosen_jointly_with_the_threshold():
    """Right pre-labels with an expensive model path beat clicking everything without the model:
    the choice is the cheapest (path, threshold) pair, not the cheapest path at "none"."""
    gate = PrelabelGate(1)
    coarse = [TRUTH[0], box(20, 20, 30, 35), TRUTH[2]]  # one 1-click fix on the model's path

    def model_path(start, truth):
        return 1 if start is not None else 20

    def free_path(start, truth):
        return 2 if start is None else 19  # fixing the coarse mask without the model: 19 clicks

    d = gate.add(priced_both("a", coarse, [0.9, 0.8, 0.7], model_path, free_path, gate.thresholds))
    # model: accept, fix (2 s), accept = 4 s; weight-free: accept, fix (38 s), accept or 6 s clicking
    assert d.click_path == "model" and not d.hidden and d.seconds_per_object == pytest.approx(4 / 3)


def test_images_priced_on_one_path_only_keep_the_model_path():
    gate = PrelabelGate(2)
    gate.add(priced_both("a", SPURIOUS, [0.9, 0.7, 0.5, 0.3], three_clicks, one_click, gate.thresholds))
    reviews = price_thresholds(
        SPURIOUS, [0.9, 0.7, 0.5, 0.3], TRUTH, None, three_clicks, thresholds=gate.thresholds
    )
    d = gate.add(PricedImage.from_reviews("b", reviews))
    assert d.click_path == "model" and d.other_path_seconds_per_object is None
    with pytest.raises(ValueError, match="not priced"):
        gate.add(PricedImage("c", 3, dict.fromkeys((None, *gate.thresholds), 1.0), {None: 1.0}))


def priced_snapped(key, shown, snapped, scores, thresholds):
    """An image priced with the model's outlines and with them snapped (model click path only)."""
    outlines = {False: shown, True: snapped}
    tables = price_outlines(outlines, scores, TRUTH, None, {"model": two_clicks}, thresholds=thresholds)
    return PricedImage.from_tables(key, tables)


def test_outlines_are_snapped_where_snapping_was_cheaper_and_not_on_a_tie():
    coarse = [box(0, 0, 10, 12), box(20, 20, 30, 33), box(40, 40, 50, 52)]  # IoU 0.83 and less: fixes
    scores = [0.9, 0.8, 0.7]
    gate = PrelabelGate(2, choose_click_path=False, snap_edges=True)
    d = gate.add(priced_snapped("a", coarse, TRUTH, scores, gate.thresholds))
    # snapped: 3 accepts (3 s); as predicted: 3 one-click fixes (6 s); clicking: 12 s
    assert d.snap_edges and not d.hidden and d.seconds_per_object == pytest.approx(1.0)
    assert d.line().startswith("threshold") and ", outlines snapped to edges against" in d.line()
    # a gate that may not snap (the default) ignores the snapped prices, even where cheaper
    plain = PrelabelGate(2, choose_click_path=False)
    d = plain.add(priced_snapped("a", coarse, TRUTH, scores, plain.thresholds))
    assert not d.snap_edges and plain.priced[-1].snapped is None
    # snapping that changes nothing is not chosen (a tie keeps the model's outlines)
    gate = PrelabelGate(2, choose_click_path=False, snap_edges=True)
    d = gate.add(priced_snapped("a", TRUTH, TRUTH, scores, gate.thresholds))
    assert not d.snap_edges and "snapped" not in d.line()
    # snapping that spoils right outlines loses; and hidden pre-labels are never "snapped"
    gate = PrelabelGate(2, choose_click_path=False, snap_edges=True)
    d = gate.add(priced_snapped("a", TRUTH, coarse, scores, gate.thresholds))
    assert not d.snap_edges
    gate = PrelabelGate(2, choose_click_path=False, snap_edges=True)
    d = gate.add(priced_snapped("a", SPURIOUS, SPURIOUS, [0.9, 0.7, 0.5, 0.3], gate.thresholds))
    assert d.hidden and not d.snap_edges
    # an image priced without snapped outlines in the window: the choice is the model's outlines
    reviews = price_thresholds(coarse, scores, TRUTH, None, two_clicks, thresholds=gate.thresholds)
    gate = PrelabelGate(2, choose_click_path=False, snap_edges=True)
    gate.add(priced_snapped("a", coarse, TRUTH, scores, gate.thresholds))
    d = gate.add(PricedImage.from_reviews("b", reviews))
    assert not d.snap_edges


def priced_exemplars(key, shown, found, scores, thresholds, size=None):
    """An image priced with the model's pre-labels and with exemplar pre-labels (one click path)."""
    from istr_core.structures import Prediction

    exemplars = [Prediction(m, (0, 0, 1, 1), 0, s) for m, s in zip(found, scores, strict=True)]
    tables = price_outlines(
        {False: shown}, scores, TRUTH, None, {"model": two_clicks}, thresholds=thresholds, exemplars=exemplars
    )
    return PricedImage.from_tables(key, tables, size)


def test_exemplar_pre_labels_are_shown_where_cheaper_and_only_on_a_reviewed_size():
    scores = [0.9, 0.8, 0.7]
    gate = PrelabelGate(2, choose_click_path=False, exemplars=True)
    d = gate.add(priced_exemplars("a", SPURIOUS[:3], TRUTH, scores, gate.thresholds, (60, 60)))
    # exemplars: 3 accepts (3 s); the model's: 3 deletes and 3 objects clicked (18 s); clicking 12 s
    assert d.exemplars and d.outlines == "exemplars" and not d.hidden
    assert d.seconds_per_object == pytest.approx(1.0)
    assert d.line().startswith("objects like the reviewed ones, threshold")
    # on an image of a size no reviewed image has, there are no objects to find others like
    d = gate.focus((80, 60))
    assert d.hidden and not d.exemplars and d.no_exemplars
    assert d.line() == "pre-labels hidden: no reviewed image of this size to find objects like"
    assert gate.focus((60, 60)).exemplars
    # a gate that may not show them ignores their prices; a tie keeps the model's pre-labels
    plain = PrelabelGate(2, choose_click_path=False)
    d = plain.add(priced_exemplars("a", SPURIOUS[:3], TRUTH, scores, plain.thresholds, (60, 60)))
    assert d.hidden and not d.exemplars and plain.priced[-1].exemplars is None
    gate = PrelabelGate(2, choose_click_path=False, exemplars=True)
    d = gate.add(priced_exemplars("a", TRUTH, TRUTH, scores, gate.thresholds, (60, 60)))
    assert not d.exemplars and d.outlines is False and not d.hidden


FOUR = [*TRUTH, box(0, 50, 10, 60)]  # a fourth object, so one is left after the 3 clicked first


def priced_seeded(key, shown, found, thresholds, size=None, gate_exemplars=None):
    """An image of FOUR priced with the model's pre-labels (``shown``) and with the first 3 objects
    clicked, then ``found`` shown (one click path)."""
    from istr_core.structures import Prediction

    scores = [0.9 - 0.1 * k for k in range(len(shown))]
    seeded = [Prediction(m, (0, 0, 1, 1), 0, 0.8) for m in found]
    tables = price_outlines(
        {False: shown}, scores, FOUR, None, {"model": two_clicks}, thresholds=thresholds, seeded=seeded
    )
    return PricedImage.from_tables(key, tables, size)


def test_clicking_a_few_then_finding_the_rest_is_priced_as_both():
    from istr_core.structures import Prediction

    found = [Prediction(FOUR[3], (0, 0, 1, 1), 0, 0.8), Prediction(SPURIOUS[0], (0, 0, 1, 1), 0, 0.4)]
    tables = price_outlines({False: []}, [], FOUR, None, {"model": two_clicks}, seeded=found)
    seeded = tables[("model", "seeded")]
    # nothing shown: every object clicked, as in the other tables
    assert seeded[None].seconds == tables[("model", False)][None].seconds == 16
    # the first 3 clicked (12 s), the 4th accepted (1 s), the spurious one deleted below 0.4 (2 s)
    assert seeded[0.5].seconds == 13 and seeded[0.5].objects == 4 and seeded[0.5].accepted == 1
    assert seeded[0.4].seconds == 15 and seeded[0.4].deleted == 1
    assert seeded[0.9].seconds == 16 and seeded[0.9].missed == 4


def test_click_a_few_then_find_the_rest_where_cheaper_and_on_an_image_nothing_else_is_shown():
    gate = PrelabelGate(2, choose_click_path=False, exemplars=False, seeded=True)
    for key in "ab":  # the model's pre-labels all spurious; the 4th object found after 3 clicked
        d = gate.add(priced_seeded(key, SPURIOUS, [FOUR[3]], gate.thresholds, (60, 60)))
    assert d.seeded and d.outlines == "seeded" and d.threshold == pytest.approx(0.45)
    assert d.seconds_per_object == pytest.approx(13 / 4) and d.clicks_seconds_per_object == 4
    assert d.line().startswith("click 3 objects, then objects like them, threshold 0.45: 3.")
    # a new image size after a run of one size: nothing of its own priced, but seeding needs no other image
    d = gate.focus((80, 60))
    assert d.seeded and d.new_scene and not d.hidden
    assert d.line().startswith("a new image size; click 3 objects, then objects like them")
    # a gate that may not seed ignores those prices, and hides the new size
    plain = PrelabelGate(2, choose_click_path=False)
    for key in "ab":
        plain.add(priced_seeded(key, SPURIOUS, [FOUR[3]], plain.thresholds, (60, 60)))
    assert plain.priced[-1].seeded is None and plain.decision.hidden and not plain.decision.seeded
    assert plain.focus((80, 60)).hidden
    # where finding costs more than clicking (a spurious match), the new size is hidden too
    gate = PrelabelGate(2, choose_click_path=False, seeded=True)
    for key in "ab":
        gate.add(priced_seeded(key, SPURIOUS, [SPURIOUS[1]], gate.thresholds, (60, 60)))
    d = gate.focus((80, 60))
    assert d.hidden and d.new_scene and not d.seeded
    # and where the model's pre-labels are right, they win over seeding
    gate = PrelabelGate(2, choose_click_path=False, seeded=True)
    d = gate.add(priced_seeded("a", FOUR, [FOUR[3]], gate.thresholds, (60, 60)))
    assert not d.seeded and d.outlines is False and d.seconds_per_object == 1
