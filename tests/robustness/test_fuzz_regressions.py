"""What fuzzing the readers found (issue 32), one test each: the three crashes of the issue, then what
the fuzz tests (test_fuzz_formats.py, test_fuzz_commands.py) found. Each was a traceback, a hang, a
crash of pycocotools, or a dataset that loaded with garbage in it; now it is one warning (the object
skipped or mended) or one error line naming the file."""

from __future__ import annotations

import base64
import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from istr_core import formats
from istr_core.formats.coco import load_coco
from istr_core.formats.dataset import AnnotationError
from tests.robustness.conftest import assert_clean_failure
from tests.robustness.test_bad_formats import _dataset, _edit_json, written

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


def _replace(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def _broken_png(width: int = 9, height: int = 8) -> bytes:
    """A PNG whose IDAT chunk says it is empty: Pillow opens it, then raises SyntaxError (not
    OSError) when it decodes the pixels."""
    buf = io.BytesIO()
    Image.fromarray(np.ones((height, width), np.uint8)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    assert data[37:41] == b"IDAT"
    data[33:37] = struct.pack(">I", 0)  # 8 signature + 25 IHDR chunk, then IDAT's length
    return bytes(data)


# ---------------------------------------------------------------- the three crashes of the issue


@pytest.mark.parametrize("attribute", ["left", "top", "width", "height"])
def test_cvat_mask_box_of_1e309_is_a_skipped_shape(attribute, tmp_path, run):
    """Was OverflowError (int of an infinite float) in formats/cvat.py."""
    src = written(tmp_path, "cvat")
    text = (src / "annotations.xml").read_text()
    start = text.index("<mask ")
    value = text[start:].split(f' {attribute}="')[1].split('"')[0]
    _replace(src / "annotations.xml", f' {attribute}="{value}"', f' {attribute}="1e309"')
    dataset = formats.load(src)
    assert dataset.num_instances == 1
    (warning,) = dataset.warnings
    assert "annotations.xml: <image> 0 (frame.png): <mask> 0:" in warning and "must be integers" in warning
    result = run("convert", src, "--to", "coco", "--out", tmp_path / "o.json")
    assert result.exit_code == 0 and "must be integers; shape skipped" in result.stderr


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


def test_labelme_mask_png_that_pillow_calls_a_syntax_error_is_a_skipped_shape(tmp_path, run):
    """Was PIL's SyntaxError from PngImagePlugin (the issue says ``imageData``: that one is never
    decoded, see below; the PNG decoded is the ``mask`` shape's)."""
    src = written(tmp_path, "labelme")
    png = base64.b64encode(_broken_png()).decode()
    _edit_json(src / "frame.json", lambda d: d["shapes"][0].update(shape_type="mask", mask=png))
    _edit_json(src / "frame.json", lambda d: d["shapes"][0].update(points=[[3, 2], [11, 9]]))
    dataset = formats.load(src)
    (warning,) = dataset.warnings
    assert "frame.json: shapes[0] (mask 'cell'): 'mask' is not a base64 PNG; shape skipped" in warning
    assert dataset.num_instances == 1
    result = run("convert", src, "--to", "coco", "--out", tmp_path / "o.json")
    assert result.exit_code == 0 and "'mask' is not a base64 PNG" in result.stderr


def test_labelme_corrupt_image_data_is_ignored(tmp_path):
    src = written(tmp_path, "labelme")
    _edit_json(src / "frame.json", lambda d: d.update(imageData=base64.b64encode(_broken_png()).decode()))
    dataset = formats.load(src)
    assert dataset.num_instances == 2 and not dataset.warnings


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


@pytest.mark.parametrize("fmt", ["coco", "cvat", "labelme"])
def test_a_declared_image_size_above_the_reader_limit_is_one_error(fmt, tmp_path, run):
    """Width 2**31 made the readers allocate the masks at that size: MemoryError, or swapping."""
    if fmt == "coco":
        src = _coco(tmp_path, lambda d: d["images"][0].update(width=2**31))
    else:
        src = written(tmp_path, fmt)
        if fmt == "cvat":
            _replace(src / "annotations.xml", 'width="32"', 'width="2147483648"')
        else:
            _edit_json(src / "frame.json", lambda d: d.update(imageWidth=2**31))
    out = tmp_path / "o.json"
    assert_clean_failure(run("convert", src, "--to", "coco", "--out", out), "above the 50 MP limit", out=out)


@pytest.mark.parametrize(
    "fmt, edit, fragment",
    [
        (
            "cvat",
            lambda p: _replace(p / "annotations.xml", "<mask ", '<polygon points="1,1;2e7,1;3,9" ', 1),
            "<polygon> 0: coordinates far outside the 32x24 image; shape skipped",
        ),
        (
            "labelme",
            lambda p: _edit_json(
                p / "frame.json",
                lambda d: d["shapes"][0].update(shape_type="circle", points=[[5, 5], [5, 1e6]]),
            ),
            "shapes[0] (circle 'cell'): coordinates far outside the 32x24 image; shape skipped",
        ),
    ],
)
def test_far_off_points_are_a_skipped_shape_not_a_hang(fmt, edit, fragment, tmp_path):
    """A circle of radius 1e6 took Pillow 30 s to draw; a CVAT point at 2e7 took pycocotools as long."""
    src = written(tmp_path, fmt)
    edit(src)
    dataset = formats.load(src)
    assert dataset.num_instances == 1 and len(dataset.warnings) == 1 and fragment in dataset.warnings[0]


def test_cvat_and_labelme_class_declared_twice_is_one_class(tmp_path):
    """It became two classes of one name: the COCO file converted from it could not be read back."""
    cvat = written(tmp_path, "cvat")
    text = (cvat / "annotations.xml").read_text()
    label = text[text.index("<label>") : text.index("</label>") + len("</label>")]
    _replace(cvat / "annotations.xml", label, label + label)
    labelme = written(tmp_path, "labelme")
    (labelme / "labels.txt").write_text("cell\ndust\ncell\n")
    for src, where in ((cvat, "annotations.xml: <labels>"), (labelme, "labels.txt")):
        dataset = formats.load(src)
        assert dataset.class_names == ["cell", "dust"] and dataset.num_instances == 2
        assert dataset.warnings == [f"{src / where}: class 'cell' is declared twice; read as one class"]


@pytest.mark.parametrize(
    "fmt, edit, fragments",
    [
        (
            "voc",
            lambda p: (p / "labelmap.txt").write_text("background:0,0,0::\ncell:1,1,1::\ncell:2,2,2::\n"),
            ["labelmap.txt: class 'cell' is listed twice"],
        ),
        (
            "yolo",
            lambda p: (p / "data.yaml").write_text("names: [cell, cell]\n"),
            ["data.yaml: class 'cell' is listed twice in 'names'"],
        ),
        (
            "labelme",
            lambda p: (p / "labels.txt").write_bytes(b"cell\n\xff\xfe\n"),
            ["labels.txt: not a text"],
        ),
        (
            "voc",
            lambda p: (p / "labelmap.txt").write_bytes(b"background\n\xe9\n"),
            ["labelmap.txt: not a text"],
        ),
        (
            "voc",
            lambda p: (p / "ImageSets/Segmentation/default.txt").write_text("frame\n../../../etc/passwd\n"),
            ["default.txt: '../../../etc/passwd': image path", "leaves the dataset folder"],
        ),
        (
            "voc",
            lambda p: (p / "SegmentationObject/frame.png").write_bytes(_broken_png(32, 24)),
            ["SegmentationObject/frame.png: not a readable PNG"],
        ),
        (
            "yolo",
            lambda p: (p / "images/frame.png").write_bytes(_broken_png()),
            ["images/frame.png: not a readable image"],
        ),
    ],
)
def test_broken_class_lists_and_pngs_are_one_error(fmt, edit, fragments, tmp_path, run):
    """Each was a traceback (UnicodeDecodeError, SyntaxError from Pillow, ValueError from a path
    outside the folder) or a class list with one name twice."""
    src = written(tmp_path, fmt)
    edit(src)
    out = tmp_path / "o.json"
    assert_clean_failure(
        run("convert", src, "--to", "coco", "--out", out, "--from", fmt), *fragments, out=out
    )


def test_labelme_mask_that_is_not_a_string_is_a_skipped_shape(tmp_path):
    src = written(tmp_path, "labelme")
    _edit_json(src / "frame.json", lambda d: d["shapes"][0].update(shape_type="mask", mask={"a": 1}))
    _edit_json(src / "frame.json", lambda d: d["shapes"][0].update(points=[[3, 2], [11, 9]]))
    dataset = formats.load(src)
    assert dataset.num_instances == 1 and "'mask' is not a base64 PNG; shape skipped" in dataset.warnings[0]


@pytest.mark.parametrize("to", ["voc", "yolo", "labelme", "cvat"])
def test_convert_refuses_images_of_another_size_than_the_annotations_say(to, tmp_path, run):
    """The masks were written at the declared size beside a copied image of another size: VOC could
    not read its own output back, YOLO's normalised coordinates were off."""
    images = tmp_path / "images"
    dataset = _dataset(images)
    dataset.images[0].width = 40  # frame.png is 32 wide
    formats.save(dataset, tmp_path / "a.json", "coco")
    out = tmp_path / "out"
    result = run("convert", tmp_path / "a.json", "--to", to, "--out", out, "--images", images)
    assert_clean_failure(result, "frame.png: the image is 32x24, the annotations say 40x24", out=out)


def test_gui_warnings_name_the_file(tmp_path):
    """'annotation 6: unknown image or category, skipped' named neither the file nor the image (the
    annotations of a skipped image now go with it, without a line each)."""
    from istr_app.core.document import Project
    from istr_app.core.project_io import load_coco_into, read_coco

    folder = tmp_path / "imgs"
    folder.mkdir()
    path = _coco(tmp_path)
    project = Project(folder, [])
    warnings = load_coco_into(project, read_coco(path)[0])
    assert warnings == [f"{path}: image 'x.png' is not in {folder}, skipped"]


def test_gui_image_listed_twice_with_two_sizes_keeps_the_first(tmp_path):
    """The second entry's size replaced the first's, and the first entry's masks no longer fitted."""
    from istr_app.core.document import Project
    from istr_app.core.project_io import load_coco_into, read_coco

    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "x.png").write_bytes(b"")  # only its existence is looked at
    path = _coco(
        tmp_path, lambda d: d["images"].append({"id": 2, "file_name": "x.png", "width": 9, "height": 9})
    )
    project = Project(folder, [folder / "x.png"])
    warnings = load_coco_into(project, read_coco(path)[0])
    (warning,) = warnings
    assert warning.startswith(
        f"{path}: images[1]: 'x.png' is listed again with another size (9x9, not 64x48)"
    )
    (rec,) = project.records
    assert rec.size == (H, W) and len(rec.instances) == 2
