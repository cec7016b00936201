"""What fuzzing the readers found (issue 32), one test each: the three crashes of the issue, then what
the fuzz tests (test_fuzz_formats.py, test_fuzz_commands.py) found. Each was a traceback, a hang, a
crash of pycocotools, or a dataset that loaded with garbage in it; now it is one warning (the object
skipped or mended) or one error line naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from istr_core import formats
from istr_core.data.coco import AnnotationError, load_coco
from tests.robustness.conftest import assert_clean_failure

W, H = 64, 48


def _coco(tmp_path: Path, change=None, seg=None) -> Path:
    data = {
        "images": [{"id": 1, "file_name": "x.png", "width": W, "height": H}],
        "categories": [{"id": 1, "name": "cell"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 30, 2, 30, 30]]},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": seg or [[5, 5, 9, 5, 9, 9]]},
        ],
    }
    if change:
        change(data)
    path = tmp_path / "a.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("bad_id", [[1], {"a": 1}, True])
def test_coco_annotation_id_that_is_a_list_or_object_is_one_error(bad_id, tmp_path, run):
    """Was TypeError (unhashable) in data/coco.py."""
    path = _coco(tmp_path, lambda d: d["annotations"][1].update(id=bad_id))
    with pytest.raises(AnnotationError, match=r"a\.json: annotations\[1\]: 'id' has the wrong type"):
        load_coco(path)
    assert_clean_failure(
        run("convert", path, "--to", "cvat", "--out", tmp_path / "o.xml"),
        "a.json: annotations[1]: 'id' has the wrong type",
        out=tmp_path / "o.xml",
    )


# ---------------------------------------------------------------- found by the fuzz tests


def test_coco_polygon_far_outside_the_image_is_skipped_not_a_crash(tmp_path):
    """A coordinate of 1e7 took pycocotools seconds; 1e9 crashed the process (segfault)."""
    coco = load_coco(_coco(tmp_path, seg=[[5, 5, 1e9, 5, 9, 9]]))
    assert coco.num_annotations == 1
    assert "annotations[1] (id 2): polygon with coordinates far outside the 64x48 image" in coco.warnings[0]


def test_coco_bad_polygon_part_is_dropped_and_the_rest_kept(tmp_path):
    """A bad part among good ones was dropped silently (or, with 7 values, a ValueError in convert)."""
    path = _coco(tmp_path, seg=[[5, 5, 9, 5, 9, 9], [1, 2, 3, 4, 5, 6, 7], "abcdefg"])
    coco = load_coco(path)
    assert coco.images[0].annotations[1]["segmentation"] == [[5, 5, 9, 5, 9, 9]]
    assert [w.split(": ", 1)[1] for w in coco.warnings] == [
        "annotations[1] (id 2): polygon part 1 with fewer than 3 points; part dropped",
        "annotations[1] (id 2): polygon part 2 with fewer than 3 points; part dropped",
    ]
    (inst,) = formats.load(path).images[0].instances[1:]
    assert inst.polygons == [[5.0, 5.0, 9.0, 5.0, 9.0, 9.0]]


@pytest.mark.parametrize(
    "change, warning",
    [
        (lambda a: a.update(score=float("nan")), "'score' is not a finite number; ignored"),
        (lambda a: a.update(score=[0.5]), "'score' is not a finite number; ignored"),
        (lambda a: a.update(iscrowd=7), "'iscrowd' must be 0 or 1; treated as 0"),
    ],
)
def test_coco_score_and_crowd_flag_are_mended_with_a_warning(change, warning, tmp_path):
    """A NaN score loaded as NaN (and a list score was a TypeError in the GUI)."""
    coco = load_coco(_coco(tmp_path, lambda d: change(d["annotations"][1])))
    (ann,) = coco.images[0].annotations[1:]
    assert "score" not in ann and ann.get("iscrowd", 0) == 0
    assert len(coco.warnings) == 1 and f"annotations[1] (id 2): {warning}" in coco.warnings[0]
