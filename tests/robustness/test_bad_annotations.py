"""COCO files that are wrong: schema errors stop every command with one line; a bad annotation is
dropped with a warning naming it. The whole-file errors of tests/cli/test_finetune.py (BAD_FILES)
are replayed here against `train` and `eval` too."""

from __future__ import annotations

import json

import pytest

from istr_core.formats.coco import load_coco
from tests.cli.test_finetune import BAD_FILES
from tests.robustness.conftest import assert_clean_failure

W, H = 64, 48


def _base() -> dict:
    return {
        "images": [{"id": 1, "file_name": "x.png", "width": W, "height": H}],
        "categories": [{"id": 1, "name": "ellipse"}, {"id": 2, "name": "polygon"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 30, 2, 30, 30]]}],
    }


# more whole-file errors than BAD_FILES holds: name -> (mutation, message fragment)
MORE_BAD = {
    "annotation not an object": (lambda d: d.update(annotations=[5]), "annotations[0]: must be an object"),
    "duplicate annotation id": (
        lambda d: d["annotations"].append(dict(d["annotations"][0])),
        "duplicate annotation id 1",
    ),
    "duplicate category id": (
        lambda d: d["categories"].append({"id": 1, "name": "x"}),
        "duplicate category id 1",
    ),
    "absolute file name": (lambda d: d["images"][0].update(file_name="/etc/passwd"), "points outside"),
    "escaping file name": (
        lambda d: d["images"][0].update(file_name="../../../etc/passwd"),
        "points outside",
    ),
    "image id not a number": (lambda d: d["images"][0].update(id="1"), "'id' has the wrong type"),
    "zero width": (lambda d: d["images"][0].update(width=0), "must be positive"),
    "top level a list": (lambda d: (d.clear(), d.update(oops=1)), "missing top-level key"),
}

# one bad annotation among good ones: segmentation -> warning fragment
RLE_FULL = {"size": [H, W], "counts": [0, W * H]}
SKIPPED = {
    "polygon < 3 points": ([[0, 0, 5, 5]], "fewer than 3 points"),
    "polygon zero area": ([[0, 0, 10, 0, 20, 0]], "zero area"),
    "polygon outside image": ([[500, 500, 600, 500, 600, 600]], "zero area (or outside the image)"),
    "polygon NaN": ([[0, 0, float("nan"), 0, 10, 10]], "non-finite"),
    "polygon strings": ([["a", "b", "c", "d", "e", "f"]], "non-numeric"),
    "RLE wrong size": ({"size": [3, 3], "counts": [0, 9]}, "differs from the image size"),
    "RLE counts too short": ({"size": [H, W], "counts": [0, 5]}, "do not describe a 48x64 mask"),
    "RLE counts too long": ({"size": [H, W], "counts": [0, 99999]}, "do not describe"),
    "RLE negative count": ({"size": [H, W], "counts": [-5, 100]}, "do not describe"),
    "RLE garbage string": ({"size": [H, W], "counts": "\u00ff\u00ff!!"}, "do not describe"),
    "RLE empty mask": ({"size": [H, W], "counts": [W * H]}, "zero area"),
    "no segmentation": (None, "no 'segmentation'"),
    "segmentation a number": (7, "wrong type"),
}
# kept, but a field is repaired: extra keys -> warning fragment
REPAIRED = {
    "bbox outside image": ({"bbox": [1000, 1000, 10, 10], "area": 100.0}, "lies outside the 64x48 image"),
    "bbox negative size": ({"bbox": [5, 5, -10, 4]}, "or is empty"),
    "bbox malformed": ({"bbox": "x"}, "not [x, y, width, height]"),
    "area not a number": ({"area": "big"}, "'area' is not a number"),
    "iscrowd a string": ({"iscrowd": "yes"}, "'iscrowd' must be 0 or 1"),
}


def _write(tmp_path, data, name="a.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("case", sorted(MORE_BAD))
def test_more_schema_errors_name_the_file_and_place(tmp_path, case):
    from istr_core.formats.dataset import AnnotationError

    data, (mutate, message) = _base(), MORE_BAD[case]
    mutate(data)
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(AnnotationError, match=message.replace("[", r"\[").replace("(", r"\(")) as info:
        load_coco(_write(tmp_path, data), tmp_path)
    assert str(tmp_path / "a.json") in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("case", sorted(SKIPPED))
def test_unusable_annotation_is_skipped_with_a_warning(tmp_path, case):
    seg, message = SKIPPED[case]
    data = _base()
    bad = {"id": 2, "image_id": 1, "category_id": 2}
    if seg is not None:
        bad["segmentation"] = seg
    data["annotations"].append(bad)
    coco = load_coco(_write(tmp_path, data))
    assert [a["id"] for a in coco.images[0].annotations] == [1]
    assert (
        len(coco.warnings) == 1
        and "annotations[1] (id 2)" in coco.warnings[0]
        and message in coco.warnings[0]
    )


@pytest.mark.parametrize("case", sorted(REPAIRED))
def test_bad_box_area_or_crowd_flag_is_repaired_with_a_warning(tmp_path, case):
    extra, message = REPAIRED[case]
    data = _base()
    data["annotations"][0].update(extra)
    coco = load_coco(_write(tmp_path, data))
    [ann] = coco.images[0].annotations
    assert len(coco.warnings) == 1 and message in coco.warnings[0]
    assert "bbox" not in ann or ann["bbox"] != extra.get("bbox")
    assert isinstance(ann.get("iscrowd", 0), int) and isinstance(ann.get("area", 0.0), float)


def test_full_mask_rle_and_compressed_rle_are_accepted(tmp_path):
    import numpy as np

    from istr_core.data.rle import mask_to_rle

    data = _base()
    mask = np.zeros((H, W), np.uint8)
    mask[10:20, 5:40] = 1
    data["annotations"] += [
        {"id": 2, "image_id": 1, "category_id": 2, "segmentation": RLE_FULL},
        {"id": 3, "image_id": 1, "category_id": 2, "segmentation": mask_to_rle(mask)},
    ]
    coco = load_coco(_write(tmp_path, data))
    assert not coco.warnings and len(coco.images[0].annotations) == 3


@pytest.mark.parametrize("command", ["train", "eval"])
@pytest.mark.parametrize(
    "case",
    [
        "wrong schema",
        "missing image ref",
        "missing category",
        "escaping path",
        "duplicate image id",
        "not json",
    ],
)
def test_train_and_eval_stop_on_whole_file_errors(
    run, synthetic_dataset, tiny_checkpoint, tmp_path, command, case
):
    ann, folder = synthetic_dataset
    make, message = BAD_FILES[case]
    bad = tmp_path / "bad file.json"
    bad.write_text(make(json.loads(ann.read_text())))
    out = tmp_path / "model.pt"
    extra = ["--out", out, "--iterations", "1"] if command == "train" else ["--weights", tiny_checkpoint]
    r = run(command, bad, "--images", folder, "--device", "cpu", *extra)
    assert_clean_failure(r, message, str(bad), out=out)


def test_eval_warns_about_skipped_annotations_and_finishes(run, synthetic_dataset, tiny_checkpoint, tmp_path):
    ann, folder = synthetic_dataset
    data = json.loads(ann.read_text())
    data["images"] = data["images"][:1]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] == data["images"][0]["id"]]
    first = data["annotations"][0]
    data["annotations"] += [
        {**first, "id": 900, "segmentation": {"size": [96, 128], "counts": [0, 5]}},
        {**first, "id": 901, "segmentation": [[0, 0, 10, 0, 20, 0]]},
        {**first, "id": 902, "bbox": [9999, 0, 5, 5]},
    ]
    r = run(
        "eval",
        _write(tmp_path, data),
        "--images",
        folder,
        "--weights",
        tiny_checkpoint,
        "--device",
        "cpu",
        "--json",
    )
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 3 and all("(id 90" in w for w in warnings)
    assert set(json.loads(r.stdout)) == {"bbox", "segm"}
