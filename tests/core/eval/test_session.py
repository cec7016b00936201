"""The simulated annotation session end to end on a tiny model, and the benchmark's bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from istr_core.eval.annotation_cost import CostModel
from istr_core.eval.click_tool import InteractiveClickTool
from istr_core.eval.gate import THRESHOLDS, PrelabelGate, PricedImage, decide
from istr_core.eval.session import load_truths, run_session
from istr_core.formats.coco import load_coco

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("mode", ["fixed", "online", "batch"])
def test_a_session_prices_every_object_of_every_image(mode, synthetic_dataset, tiny_checkpoint):
    ann, folder = synthetic_dataset
    truths = load_truths(load_coco(ann, folder), folder, first=5)
    r = run_session(
        mode, tiny_checkpoint, ann, folder, truths, steps_per_image=1, score_threshold=0.3, batch_every=2
    )
    assert len(r.reviews) == 5 and [x.objects for x in r.reviews] == [len(t.masks) for t in truths]
    for x in r.reviews:
        assert x.accepted + x.fixed + x.missed == x.objects
        drawn = x.fixed + x.missed
        assert x.seconds == pytest.approx(
            x.accepted * 1 + x.deleted * 2 + x.relabelled * 2 + drawn * CostModel().polygon_s
        )
    # batch: the job after 2 images pre-labels image 5; the one after 4 would pre-label nothing: not run
    assert r.steps == {"fixed": 0, "online": 5, "batch": 2}[mode]
    assert (r.train_wall_s > 0) == (mode != "fixed") and r.train_wall_s <= r.wall_s
    summary = r.summary(last=2)
    assert summary["mode"] == mode and len(summary["seconds_per_object_per_image"]) == 5
    assert r.final is not None


def test_the_online_steps_can_follow_the_trainer(synthetic_dataset, tiny_checkpoint):
    """A step budget that asks the trainer after each image (the benchmark's --steps-follow-size)."""
    ann, folder = synthetic_dataset
    truths = load_truths(load_coco(ann, folder), folder, first=3)
    seen = []

    def steps(trainer):
        seen.append(trainer.reviewed_keys[-1])
        return len(trainer.examples)  # 1, 2, 3

    r = run_session("online", tiny_checkpoint, ann, folder, truths, steps_per_image=9, online_steps=steps)
    assert seen == [t.key for t in truths] and r.steps == 6
    assert r.steps_per_image == [1, 2, 3] and r.summary()["steps_per_image"] == [1, 2, 3]


def test_click_pricing_counts_clicks_and_falls_back_to_polygons(synthetic_dataset, tiny_checkpoint):
    ann, folder = synthetic_dataset
    truths = load_truths(load_coco(ann, folder), folder, first=2)
    r = run_session("fixed", tiny_checkpoint, ann, folder, truths, 1, click_tool=InteractiveClickTool())
    assert len(r.click_reviews) == len(r.reviews) == 2
    for polygon, clicked in zip(r.reviews, r.click_reviews, strict=True):
        assert (clicked.accepted, clicked.fixed, clicked.missed) == (
            polygon.accepted,
            polygon.fixed,
            polygon.missed,
        )
        assert (
            clicked.clicks + clicked.polygons >= clicked.fixed + clicked.missed
        )  # every drawn object priced
        assert clicked.polygons <= polygon.polygons and clicked.seconds <= polygon.seconds
        assert clicked.seconds == pytest.approx(
            clicked.accepted
            + 2 * (clicked.deleted + clicked.relabelled + clicked.clicks)
            + 79 * clicked.polygons
        )
    assert sum(x.clicks for x in r.click_reviews) > 0  # the textured scenes are clickable
    assert "clicks_seconds_per_object" in r.summary()


def test_uncertainty_order_reviews_every_image_once(synthetic_dataset, tiny_checkpoint):
    ann, folder = synthetic_dataset
    truths = load_truths(load_coco(ann, folder), folder, first=3)
    r = run_session("fixed", tiny_checkpoint, ann, folder, truths, 1, order="uncertainty")
    assert sorted(r.order) == sorted(t.key for t in truths) and len(r.reviews) == 3
    with pytest.raises(ValueError, match="unknown order"):
        run_session("fixed", tiny_checkpoint, ann, folder, truths, 1, order="random")


def test_other_thresholds_price_the_session_as_a_run_at_that_threshold(synthetic_dataset, tiny_checkpoint):
    ann, folder = synthetic_dataset
    truths = load_truths(load_coco(ann, folder), folder, first=3)
    both = run_session("fixed", tiny_checkpoint, ann, folder, truths, 1, 0.9, other_thresholds=(0.0,))
    alone = run_session("fixed", tiny_checkpoint, ann, folder, truths, 1, 0.0)
    assert both.other_thresholds[0.0] == alone.reviews
    assert sum(x.deleted for x in alone.reviews) > sum(x.deleted for x in both.reviews)  # thresholds differ
    assert set(both.summary()["other_thresholds"]["0.0"]) == {
        "seconds_per_object",
        "accepted_share",
        "accepted_share_last10",
    }


def test_clicks_mode_makes_every_object_from_nothing(synthetic_dataset, tiny_checkpoint):
    ann, folder = synthetic_dataset
    truths = load_truths(load_coco(ann, folder), folder, first=3)
    r = run_session("clicks", tiny_checkpoint, ann, folder, truths, 5, click_tool=InteractiveClickTool())
    assert r.steps == 0 and r.train_wall_s == 0 and r.final is None
    for t, polygon, clicked in zip(truths, r.reviews, r.click_reviews, strict=True):
        n = len(t.masks)
        assert (polygon.objects, polygon.missed, polygon.polygons, polygon.seconds) == (n, n, n, 79.0 * n)
        assert (clicked.accepted, clicked.fixed, clicked.deleted, clicked.missed) == (0, 0, 0, n)
        assert clicked.clicks + clicked.polygons >= n
        assert clicked.seconds == pytest.approx(2 * clicked.clicks + 79 * clicked.polygons)
    # the same counts as the weight-free click tool on its own: no model anywhere
    tool = InteractiveClickTool()
    for t, clicked in zip(truths, r.click_reviews, strict=True):
        counter = tool.for_image(None, t.image)
        counts = [counter(None, m.astype(bool)) for m in t.masks]
        assert clicked.clicks == sum(c for c in counts if c is not None and c <= 20)
    with pytest.raises(ValueError, match="nothing to gate"):
        run_session("clicks", tiny_checkpoint, ann, folder, truths, 1, gate=PrelabelGate())


def test_a_gated_session_shows_each_image_what_the_images_before_it_chose(synthetic_dataset, tiny_checkpoint):
    ann, folder = synthetic_dataset
    truths = load_truths(load_coco(ann, folder), folder, first=4)
    gated = run_session("fixed", tiny_checkpoint, ann, folder, truths, 1, 0.3, gate=PrelabelGate(2, 0.3))
    # the same frozen model priced at every threshold (polygons: no click tool), and with nothing shown
    grid = tuple(sorted({*THRESHOLDS, 0.3}))
    every = run_session("fixed", tiny_checkpoint, ann, folder, truths, 1, 0.3, other_thresholds=grid)
    nothing = [79.0 * len(t.masks) for t in truths]
    decisions = gated.polygon_gate  # without a click tool the polygon pricing is the only one
    assert gated.mode == "fixed+gate" and not gated.gate and len(decisions) == 4
    assert decisions[0].threshold == 0.3
    for k, shown in enumerate(decisions):
        if shown.hidden:
            assert gated.reviews[k].seconds == nothing[k] and gated.reviews[k].deleted == 0
        else:
            assert gated.reviews[k] == every.other_thresholds[shown.threshold][k]
    for k in range(1, 4):  # decided from the (at most 2) images before
        window = [
            PricedImage(
                truths[j].key,
                len(truths[j].masks),
                {None: nothing[j], **{t: every.other_thresholds[t][j].seconds for t in grid}},
            )
            for j in range(max(0, k - 2), k)
        ]
        assert decisions[k] == decide(window, grid)
    summary = gated.summary()
    assert len(summary["gate_thresholds"]) == 4 and summary["pricing_wall_s_per_image"] >= 0
    again = run_session("fixed", tiny_checkpoint, ann, folder, truths, 1, 0.3, gate=PrelabelGate(2, 0.3))
    assert again.reviews == gated.reviews and again.polygon_gate == decisions  # same input, same result
    # with clicks, each pricing has its own gate

    def clicked_with(gate):
        return run_session(
            "fixed", tiny_checkpoint, ann, folder, truths[:2], 1, click_tool=InteractiveClickTool(), gate=gate
        )

    clicked = clicked_with(PrelabelGate())
    assert len(clicked.gate) == len(clicked.polygon_gate) == len(clicked.click_reviews) == 2
    assert {"gate_thresholds", "clicks_gate_thresholds"} <= set(clicked.summary())
    # the click-priced gate priced the second image's choice on both click paths; the polygon one
    # has no click tool to choose for
    assert clicked.gate[1].other_path_seconds_per_object is not None
    assert all(d.click_path == "model" for d in clicked.polygon_gate)
    assert clicked.summary()["clicks_gate_weight_free_images"] == sum(d.weight_free for d in clicked.gate)
    # what the click-priced gate saw is kept, so other gating rules can be replayed on it
    assert [p.key for p in clicked.priced] == [t.key for t in truths[:2]]
    assert decide(clicked.priced[:1], PrelabelGate().thresholds) == clicked.gate[1]
    # by default the outlines are the model's: nothing snapped is priced or shown
    assert all(set(p.tables()) == {("model", False), ("weight-free", False)} for p in clicked.priced)
    assert not any(d.snap_edges for d in clicked.gate + clicked.polygon_gate)
    # a gate that may snap: every image priced with its outlines snapped too, on both paths, and
    # each review is the chosen table's
    snapping = clicked_with(PrelabelGate(snap_edges=True))
    assert all(
        set(p.tables()) == {(q, s) for q in ("model", "weight-free") for s in (False, True)}
        for p in snapping.priced
    )
    for d, p, review in zip(snapping.gate, snapping.priced, snapping.click_reviews, strict=True):
        assert review.seconds == p.tables()[(d.click_path, d.snap_edges)][d.threshold]
    assert snapping.summary()["clicks_gate_snapped_images"] == sum(d.snap_edges for d in snapping.gate)
    # a gate that may show exemplars: every image priced shown the objects found from the images of
    # its size before it (the first from its own), on both paths; each review the chosen table's
    finding = clicked_with(PrelabelGate(exemplars=True))
    assert all(
        set(p.tables()) == {(q, s) for q in ("model", "weight-free") for s in (False, "exemplars")}
        for p in finding.priced
    )
    for d, p, review in zip(finding.gate, finding.priced, finding.click_reviews, strict=True):
        assert review.seconds == p.tables()[(d.click_path, d.outlines)][d.threshold]
    assert finding.summary()["clicks_gate_exemplar_images"] == sum(d.exemplars for d in finding.gate)
    model_only = clicked_with(PrelabelGate(choose_click_path=False))
    assert all(d.click_path == "model" and d.other_path_seconds_per_object is None for d in model_only.gate)


def bench(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "annotation_session.py"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_benchmark_bad_input_is_one_line_and_exit_2(synthetic_dataset, tmp_path):
    ann, folder = synthetic_dataset
    data = json.loads(ann.read_text())
    no_images = tmp_path / "no_images.json"
    no_images.write_text(json.dumps({**data, "images": [], "annotations": []}))
    no_categories = tmp_path / "no_categories.json"
    no_categories.write_text(json.dumps({**data, "categories": [], "annotations": []}))
    for path, fragment in ((no_images, "no images"), (no_categories, "no categories")):
        r = bench(path, "--images", folder, "--steps-per-image", "1")
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in r.stderr
