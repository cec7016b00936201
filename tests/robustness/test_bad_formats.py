"""Bad files in every format `istr convert` (and so train / finetune / eval / istr-app) reads: a broken
file stops with one line naming it and the place, exit 2, and writes nothing; a bad object or a label
file without its image is skipped with one warning line naming the file and the line or shape."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from istr_core import formats
from istr_core.formats import Dataset, ImageEntry
from istr_core.formats.dataset import annotation_from_mask
from tests.robustness.conftest import assert_clean_failure


def _dataset(folder: Path) -> Dataset:
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "frame.png"), np.zeros((24, 32, 3), np.uint8))
    a, b = np.zeros((24, 32), bool), np.zeros((24, 32), bool)
    a[2:10, 3:12], b[12:20, 15:30] = True, True
    return Dataset(
        ["cell", "dust"],
        [ImageEntry("frame.png", 32, 24, [annotation_from_mask(a, 0), annotation_from_mask(b, 1)])],
    )


def written(tmp: Path, fmt: str) -> Path:
    out = tmp / fmt
    formats.save(_dataset(tmp / "images"), out, fmt, tmp / "images")
    return out


def _edit_json(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


# name -> (format, corruption(dataset path), fragments of the one error line)
WHOLE_FILE = {
    "labelme truncated": (
        "labelme",
        lambda p: _truncate(p / "frame.json"),
        ["frame.json", "not valid JSON (line"],
    ),
    "labelme wrong schema": (
        "labelme",
        lambda p: _edit_json(p / "frame.json", lambda d: d.update(imageHeight="24")),
        ["frame.json", "'imageHeight' missing or of the wrong type"],
    ),
    "labelme image outside": (
        "labelme",
        lambda p: _edit_json(p / "frame.json", lambda d: d.update(imagePath="../../etc/passwd")),
        ["frame.json", "'../../etc/passwd' leaves the dataset folder"],
    ),
    "cvat truncated": (
        "cvat",
        lambda p: _truncate(p / "annotations.xml"),
        ["annotations.xml", "not valid XML (line"],
    ),
    "cvat wrong root": (
        "cvat",
        lambda p: (p / "annotations.xml").write_text("<annotations2><image/></annotations2>"),
        ["annotations.xml"],  # no <annotations: not even detected as CVAT
    ),
    "cvat image outside": (
        "cvat",
        lambda p: (p / "annotations.xml").write_text(
            (p / "annotations.xml").read_text().replace('name="frame.png"', 'name="/etc/passwd"')
        ),
        ["annotations.xml: <image> 0", "'/etc/passwd' leaves the dataset folder"],
    ),
    "cvat size not a number": (
        "cvat",
        lambda p: (p / "annotations.xml").write_text(
            (p / "annotations.xml").read_text().replace('width="32"', 'width="wide"')
        ),
        ["annotations.xml: <image> 0", "'width' and 'height' must be integers"],
    ),
    "yolo broken yaml": (
        "yolo",
        lambda p: (p / "data.yaml").write_text("names: [a, b\n"),
        ["data.yaml", "not valid YAML"],
    ),
    "yolo no names": (
        "yolo",
        lambda p: (p / "data.yaml").write_text("train: images\n"),
        ["data.yaml", "'names' must be"],
    ),
    "yolo truncated image": (
        "yolo",
        lambda p: (p / "images" / "frame.png").write_bytes(b"\x89PNG\r\n"),
        ["frame.png", "not a readable image"],
    ),
    "voc truncated png": (
        "voc",
        lambda p: _truncate(p / "SegmentationObject" / "frame.png"),
        ["SegmentationObject/frame.png", "not a readable PNG"],
    ),
    "voc no class list": ("voc", lambda p: (p / "labelmap.txt").unlink(), ["no labelmap.txt"]),
    "voc mask of another size": (
        "voc",
        lambda p: cv2.imwrite(str(p / "SegmentationObject" / "frame.png"), np.zeros((5, 5), np.uint8)),
        ["SegmentationObject/frame.png", "differs from"],
    ),
}


@pytest.mark.parametrize("case", list(WHOLE_FILE))
def test_broken_file_is_one_line_and_no_output(case, tmp_path, run):
    fmt, corrupt, fragments = WHOLE_FILE[case]
    src = written(tmp_path, fmt)
    corrupt(src)
    out = tmp_path / "out.json"
    assert_clean_failure(
        run("convert", src, "--to", "coco", "--out", out, "--from", fmt), *fragments, out=out
    )


def _yolo_line(p: Path, line: str) -> None:
    label = p / "labels" / "frame.txt"
    label.write_text(label.read_text() + line + "\n")


# name -> (format, corruption, fragment of the one warning, objects left of 2)
PER_ITEM = {
    "yolo NaN": (
        "yolo",
        lambda p: _yolo_line(p, "0 0.1 0.1 nan 0.2 0.3 0.3"),
        "frame.txt:3: coordinates are not finite",
        2,
    ),
    "yolo outside 0..1": (
        "yolo",
        lambda p: _yolo_line(p, "0 0.1 0.1 1.7 0.2 0.3 0.3"),
        "frame.txt:3: coordinates outside 0..1",
        2,
    ),
    "yolo unknown class": (
        "yolo",
        lambda p: _yolo_line(p, "7 0.1 0.1 0.5 0.2 0.3 0.3"),
        "frame.txt:3: class 7 is not in",
        2,
    ),
    "yolo odd coordinates": (
        "yolo",
        lambda p: _yolo_line(p, "0 0.1 0.1 0.5"),
        "frame.txt:3: 3 coordinates",
        2,
    ),
    "yolo label without image": (
        "yolo",
        lambda p: (p / "labels" / "ghost.txt").write_text("0 0.1 0.1 0.5 0.2 0.3 0.3\n"),
        "ghost.txt: no image for this label file",
        2,
    ),
    "labelme NaN": (
        "labelme",
        lambda p: (p / "frame.json").write_text((p / "frame.json").read_text().replace("3.0", "NaN", 1)),
        "frame.json: shapes[0] (polygon 'cell'): coordinates are not finite",
        1,
    ),
    "labelme outside the image": (
        "labelme",
        lambda p: _edit_json(
            p / "frame.json", lambda d: d["shapes"][0].update(points=[[500, 500], [600, 500], [550, 600]])
        ),
        "frame.json: shapes[0] (polygon 'cell'): covers no pixel",
        1,
    ),
    "labelme unknown shape": (
        "labelme",
        lambda p: _edit_json(p / "frame.json", lambda d: d["shapes"][0].update(shape_type="linestrip")),
        "shape type 'linestrip' has no area",
        1,
    ),
    "labelme mask of the wrong size": (
        "labelme",
        lambda p: _edit_json(
            p / "frame.json",
            lambda d: d["shapes"][0].update(shape_type="mask", points=[[3, 2], [11, 9]], mask=_b64png()),
        ),
        "frame.json: shapes[0] (mask 'cell'): the mask PNG is not the size of its box",
        1,
    ),
    "cvat mask runs wrong": (
        "cvat",
        lambda p: (p / "annotations.xml").write_text(
            (p / "annotations.xml").read_text().replace('rle="', 'rle="5, ', 1)
        ),
        "<mask> 0: 'rle' runs add up to",
        1,
    ),
    "cvat polygon garbage": (
        "cvat",
        lambda p: (p / "annotations.xml").write_text(
            (p / "annotations.xml").read_text().replace("<mask ", '<polygon points="a,b;c,d" ', 1)
        ),
        "<polygon> 0: coordinates are not numbers",
        1,
    ),
    "voc mask without image": (
        "voc",
        lambda p: (p / "JPEGImages" / "frame.png").unlink(),
        "SegmentationObject/frame.png: no image frame.*",
        0,
    ),
}


def _b64png() -> str:
    import base64

    ok, data = cv2.imencode(".png", np.ones((2, 2), np.uint8))
    return base64.b64encode(data.tobytes()).decode()


@pytest.mark.parametrize("case", list(PER_ITEM))
def test_bad_item_is_one_warning_and_skipped(case, tmp_path, run):
    fmt, corrupt, fragment, left = PER_ITEM[case]
    src = written(tmp_path, fmt)
    corrupt(src)
    out = tmp_path / "out.json"
    result = run("convert", src, "--to", "coco", "--out", out, "--from", fmt)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and fragment in warnings[0], result.stderr
    assert formats.load(out).num_instances == left


def test_error_while_writing_leaves_no_output(tmp_path, run):
    """Two images whose label files would collide: refused before anything is written."""
    folder = tmp_path / "images"
    dataset = _dataset(folder)
    cv2.imwrite(str(folder / "frame.jpg"), np.zeros((24, 32, 3), np.uint8))
    dataset.images.append(ImageEntry("frame.jpg", 32, 24))
    formats.save(dataset, tmp_path / "a.json", "coco")
    out = tmp_path / "y"
    result = run("convert", tmp_path / "a.json", "--to", "yolo", "--out", out, "--images", folder)
    assert_clean_failure(result, "two images share the label file labels/frame.txt")
    assert not out.exists() and not list(tmp_path.glob(".y.*"))


def test_unknown_format_names_the_choices(tmp_path, run):
    src = written(tmp_path, "cvat")
    assert_clean_failure(
        run("convert", src, "--to", "pascal", "--out", tmp_path / "o"), "unknown format 'pascal'"
    )
