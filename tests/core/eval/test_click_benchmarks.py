"""The click benchmarks' own accounting: the box method and the k-study's subsets (benchmarks/)."""

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

clicks = pytest.importorskip("clicks")
after_finetune = pytest.importorskip("clicks_after_finetune")


def test_the_box_method_counts_the_box_as_one_click(synthetic_dataset):
    annotations, images = synthetic_dataset
    rows = {r["method"]: r for r in clicks.run(annotations, images, "none", 6, ["box", "no-model"])}
    box = rows["box"]
    assert box["objects"] == rows["no-model"]["objects"] == 6
    assert 1 <= box["noc85"] <= clicks.MAX_CLICKS  # the drag itself is the first interaction
    assert 0.7 <= box["iou_1click"] <= 1  # the tight box of an exact synthetic mask (0.81 measured)


def test_first_images_keeps_their_annotations_and_can_merge_classes():
    coco = {
        "images": [{"id": i, "file_name": f"{i}.png", "width": 8, "height": 8} for i in (1, 2, 3)],
        "annotations": [{"id": j, "image_id": 1 + j % 3, "category_id": 1 + j % 2} for j in range(6)],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }
    sub = after_finetune.first_images(coco, 2, skip=1)
    assert [im["id"] for im in sub["images"]] == [2, 3]
    assert sorted(a["image_id"] for a in sub["annotations"]) == [2, 2, 3, 3]
    merged = after_finetune.first_images(coco, 1, one_class=True)
    assert merged["categories"] == [{"id": 1, "name": "object"}]
    assert {a["category_id"] for a in merged["annotations"]} == {1}
    assert {a["category_id"] for a in coco["annotations"]} == {1, 2}  # the input is not changed
    json.dumps(merged)
