"""The simulated annotation session end to end on a tiny model, and the benchmark's bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from istr_core.eval.annotation_cost import CostModel
from istr_core.eval.session import InteractiveClickTool, load_truths, run_session
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
