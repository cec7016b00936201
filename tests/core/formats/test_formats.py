"""Annotation formats: COCO -> X -> COCO round trips, the tools' own sample files, detection."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from istr_core import formats
from istr_core.formats import Dataset, ImageEntry
from istr_core.formats.coco import load_coco
from istr_core.formats.dataset import AnnotationError, annotation_from_mask
from istr_core.formats.voc import voc_colormap
from istr_core.train.synthetic import make_scene

DATA = Path(__file__).resolve().parents[2] / "data" / "formats"
MASK_FORMATS = ["coco", "cvat", "labelme", "voc"]  # exact; yolo is a polygon format


def scenes_dataset(folder: Path, n: int = 6, seed: int = 5) -> Dataset:
    """Procedural scenes (holes, occlusion, touching objects) with awkward names, class order not
    alphabetical, a class never used and an image without objects; images written to ``folder``."""
    rng = np.random.default_rng(seed)
    names = ["ring", "ellipse", "blob", "polygon", "never used"]
    remap = {0: 1, 1: 3, 2: 0, 3: 2}  # synthetic CATEGORIES order -> ours
    images = []
    for i in range(n):
        h, w = (64, 96) if i % 2 else (80, 72)
        image, masks, labels = make_scene(rng, h, w, max_objects=6, min_area=10)
        name = f"sub dir/ünï {i}.png" if i % 3 == 0 else f"scene_{i}.png"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / name), image)
        insts = [annotation_from_mask(m, remap[int(c)]) for m, c in zip(masks, labels, strict=True)]
        images.append(ImageEntry(name, w, h, [x for x in insts if x is not None]))
    cv2.imwrite(str(folder / "empty.png"), np.zeros((20, 30, 3), np.uint8))
    images.append(ImageEntry("empty.png", 30, 20))
    return Dataset(names, images)


def round_trip(dataset: Dataset, fmt: str, tmp: Path, images: Path) -> tuple[Dataset, list[str]]:
    out = tmp / fmt / ("a.json" if fmt == "coco" else "")
    warnings = formats.save(dataset, out, fmt, images)
    assert formats.detect(out) == fmt
    coco_back = tmp / f"{fmt}_back.json"
    formats.convert(out, coco_back, "coco")  # X -> COCO through the CLI's path
    back = formats.load(coco_back)
    order = {im.file_name: k for k, im in enumerate(dataset.images)}  # folder formats list by name
    back.images.sort(key=lambda im: order[im.file_name])
    return back, warnings


def ious(a: Dataset, b: Dataset) -> list[float]:
    out = []
    for x, y in zip(a.images, b.images, strict=True):
        assert len(x.instances) == len(y.instances), x.file_name
        for p, q in zip(x.instances, y.instances, strict=True):
            assert p.label == q.label
            m, n = p.mask(), q.mask()
            out.append(float((m & n).sum() / (m | n).sum()))
    return out


@pytest.mark.parametrize("fmt", [*MASK_FORMATS, "yolo"])
def test_round_trip_keeps_images_classes_and_masks(fmt, tmp_path):
    src = tmp_path / "src"
    dataset = scenes_dataset(src)
    back, warnings = round_trip(dataset, fmt, tmp_path, src)
    assert back.class_names == dataset.class_names
    assert [(i.file_name, i.width, i.height) for i in back.images] == [
        (i.file_name, i.width, i.height) for i in dataset.images
    ]
    values = ious(dataset, back)
    assert len(values) == dataset.num_instances > 20
    if fmt in MASK_FORMATS:
        assert min(values) == 1.0 and warnings == []
        return
    # YOLO: one polygon per object; holes come back through the even-odd fill, separate parts are
    # joined by bridge lines: every object that is not exact is named in a warning
    single_part = [
        cv2.connectedComponents(p.mask().astype(np.uint8), connectivity=8)[0] == 2
        for im in dataset.images
        for p in im.instances
    ]
    assert min(v for v, one in zip(values, single_part, strict=True) if one) >= 0.98
    assert sum(v < 1 for v in values) == len([w for w in warnings if "differs from the mask" in w])


def test_holes_survive_yolo_exactly(tmp_path):
    mask = np.zeros((60, 60), bool)
    cv2.circle(mask.view(np.uint8), (30, 30), 20, 1, -1)
    cv2.circle(mask.view(np.uint8), (30, 30), 8, 0, -1)
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((60, 60, 3), np.uint8))
    dataset = Dataset(["ring"], [ImageEntry("a.png", 60, 60, [annotation_from_mask(mask, 0)])])
    warnings = formats.save(dataset, tmp_path / "y", "yolo", tmp_path)
    back = formats.load(tmp_path / "y")
    assert warnings == [] and np.array_equal(back.images[0].instances[0].mask(), mask)


def test_voc_overlap_keeps_the_smaller_object_and_warns(tmp_path):
    big, small = np.zeros((20, 20), bool), np.zeros((20, 20), bool)
    big[2:18, 2:18], small[5:9, 5:9] = True, True
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((20, 20, 3), np.uint8))
    insts = [annotation_from_mask(small, 0), annotation_from_mask(big, 0)]
    warnings = formats.save(
        Dataset(["x"], [ImageEntry("a.png", 20, 20, insts)]), tmp_path / "v", "voc", tmp_path
    )
    back = formats.load(tmp_path / "v").images[0].instances
    assert np.array_equal(back[0].mask(), small) and np.array_equal(back[1].mask(), big & ~small)
    assert len(warnings) == 1 and "object 1: 16 of its 256 px" in warnings[0]


def test_droplets_round_trip(droplets_dir, tmp_path):
    """Hand-drawn polygons of a real set (4 val frames) through every format; all of droplets is
    measured by benchmarks/formats_roundtrip.py."""
    source = formats.load(droplets_dir / "val.json")
    source.images = source.images[:4]
    for fmt in [*MASK_FORMATS, "yolo"]:
        back, warnings = round_trip(source, fmt, tmp_path, droplets_dir / "images")
        values = ious(source, back)
        overlapping = sum("overlap" in w for w in warnings)  # VOC: one object per pixel
        assert sum(v < 0.98 for v in values) <= overlapping, fmt
        assert fmt == "voc" or np.mean(values) > 0.999, fmt


def test_coco_polygons_pass_through_cvat(tmp_path):
    """A polygon read from COCO is written as the same polygon (not re-traced) where the format has them."""
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 20}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 3,
                "segmentation": [[1.5, 1, 10.25, 1, 10, 9], [20, 2, 28, 2, 24, 9]],
            }
        ],
        "categories": [{"id": 3, "name": "b"}, {"id": 1, "name": "a"}],
    }
    (tmp_path / "a.json").write_text(json.dumps(data))
    formats.convert(tmp_path / "a.json", tmp_path / "c.xml", "cvat")
    back = formats.load(tmp_path / "c.xml")
    assert back.class_names == ["b", "a"]
    assert back.images[0].instances[0].polygons == [[1.5, 1, 10.25, 1, 10, 9], [20, 2, 28, 2, 24, 9]]


def test_labelme_sample_written_by_labelme_reads_as_labelme_draws_it():
    """tests/data/formats/labelme/sample.json was written by labelme 6.3.1; labelme_masks.npz holds
    what labelme's own shapes_to_label draws from it."""
    dataset = formats.load(DATA / "labelme")
    expected = np.load(DATA / "labelme_masks.npz")["masks"]
    got = [inst.mask() for inst in dataset.images[0].instances]
    assert dataset.class_names == ["cell", "debris"] and dataset.images[0].file_name == "sample.png"
    assert [dataset.class_names[i.label] for i in dataset.images[0].instances] == [
        "cell",
        "debris",
        "cell",
        "cell",
    ]
    assert len(got) == len(expected) and all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def test_labelme_image_in_a_sibling_folder(tmp_path):
    """labelme writes imagePath relative to the JSON: ../images/x.png is fine while it stays inside
    the folder given; the file name becomes relative to that folder."""
    (tmp_path / "ann").mkdir()
    doc = json.loads((DATA / "labelme" / "sample.json").read_text())
    doc["imagePath"] = "..\\images\\sample.png"  # as labelme on Windows writes it
    (tmp_path / "ann" / "sample.json").write_text(json.dumps(doc))
    dataset = formats.load(tmp_path)
    assert dataset.images[0].file_name == "images/sample.png" and len(dataset.images[0].instances) == 4


def test_yolo_sample():
    dataset = formats.load(DATA / "yolo" / "data.yaml")
    assert dataset.class_names == ["droplet", "dust"]
    assert [i.file_name for i in dataset.images] == ["train/empty.png", "train/frame_001.png"]
    empty, frame = dataset.images
    assert (empty.width, empty.height, empty.instances) == (40, 30, [])
    labels = [i.label for i in frame.instances]
    assert labels == [0, 1, 0] and dataset.warnings == []
    square = frame.instances[0].mask()  # x 0.125..0.375 of 80 = 10..30, y 0.1..0.5 of 50 = 5..25
    assert square[5:26, 10:31].all() and square.sum() == 21 * 21  # fillPoly includes the outline
    two_parts = frame.instances[2].mask()  # Ultralytics-style joined segments: both squares, one object
    assert two_parts[40:46, 40:45].all() and two_parts[40:46, 56:61].all()


def test_cvat_sample():
    dataset = formats.load(DATA / "cvat")
    assert dataset.class_names == ["droplet", "dust", "unused"]
    im, empty = dataset.images
    assert (im.file_name, im.width, im.height) == ("sub dir/frame ü 1.png", 40, 30)
    assert (empty.file_name, empty.instances) == ("empty.png", [])
    assert [i.label for i in im.instances] == [0, 1, 0, 1]  # polygon, box, mask, grouped pair
    mask = im.instances[2].mask()
    expected = np.zeros((30, 40), bool)
    expected[20:23, 31:34] = True  # 5-wide rows 01110: runs 1,3 then 2,3 across each row break, then 1
    assert np.array_equal(mask, expected)
    assert im.instances[3].mask()[20:24, 2:6].all() and im.instances[3].mask()[20:24, 10:14].all()
    assert any("<polyline>" in w for w in dataset.warnings)


def test_voc_written_by_hand_with_pillow(tmp_path):
    """The layout CVAT's "Segmentation mask 1.1" export uses, built here with Pillow, not our writer."""
    (tmp_path / "JPEGImages").mkdir()
    cv2.imwrite(str(tmp_path / "JPEGImages" / "a.jpg"), np.zeros((10, 12, 3), np.uint8))
    objects, classes = np.zeros((10, 12), np.uint8), np.zeros((10, 12), np.uint8)
    objects[1:4, 1:4], classes[1:4, 1:4] = 1, 2
    objects[5:9, 6:11], classes[5:9, 6:11] = 2, 1
    objects[4, :], classes[4, :] = 255, 255  # void border
    for sub, arr in (("SegmentationObject", objects), ("SegmentationClass", classes)):
        (tmp_path / sub).mkdir()
        im = Image.fromarray(arr).convert("P")
        im.putpalette(voc_colormap().ravel().tolist())
        im.save(tmp_path / sub / "a.png")
    (tmp_path / "labelmap.txt").write_text(
        "# label:color_rgb:parts:actions\nbackground:0,0,0::\ncat:128,0,0::\ndog:0,128,0::\n"
    )
    dataset = formats.load(tmp_path)
    insts = dataset.images[0].instances
    assert dataset.class_names == ["cat", "dog"] and [i.label for i in insts] == [1, 0]
    assert [i.area for i in insts] == [9, 20]


def test_detect_says_what_it_looked_for(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(AnnotationError, match="cannot tell its format.*--from"):
        formats.detect(tmp_path / "x.txt")


def test_labelme_file_with_a_label_called_annotations_is_not_coco(tmp_path):
    doc = json.loads((DATA / "labelme" / "sample.json").read_text())
    doc["shapes"][0]["label"] = "annotations"
    (tmp_path / "sample.json").write_text(json.dumps(doc))
    assert formats.detect(tmp_path / "sample.json") == "labelme"


def test_training_reads_any_format(tmp_path):
    """load_annotations gives training the same CocoData from a YOLO folder as from the COCO file."""
    src = tmp_path / "src"
    dataset = scenes_dataset(src, n=3)
    formats.save(dataset, tmp_path / "a.json", "coco")
    formats.save(dataset, tmp_path / "y", "yolo", src)
    via_yolo = formats.load_annotations(tmp_path / "y", tmp_path / "y" / "images")
    via_coco = load_coco(tmp_path / "a.json", src)
    assert via_yolo.class_names == via_coco.class_names
    assert sorted(im.file_name for im in via_yolo.images) == sorted(im.file_name for im in via_coco.images)
    assert via_yolo.num_annotations == via_coco.num_annotations


@pytest.mark.skipif(
    subprocess.run(
        [os.environ.get("ISTR_LABELME_PYTHON", sys.executable), "-c", "import labelme"], capture_output=True
    ).returncode
    != 0,
    reason="labelme not installed (pip install labelme, or ISTR_LABELME_PYTHON=<python of a venv with it>)",
)
def test_labelme_own_reader_agrees(tmp_path):
    """labelme's LabelFile + shape_to_label read our files as we do (run in a subprocess: labelme brings
    PyQt5, which must not meet PySide6 in one process)."""
    src = tmp_path / "src"
    dataset = scenes_dataset(src)
    formats.save(dataset, tmp_path / "lm", "labelme", src)
    for k, im in enumerate(dataset.images):
        masks = (
            np.stack([i.mask() for i in im.instances]) if im.instances else np.zeros((0, im.height, im.width))
        )
        np.save(tmp_path / f"{k}.npy", masks)
    script = """
import json, sys, uuid, numpy as np
from pathlib import Path
from labelme._label_file import LabelFile
from labelme import utils
root, names = Path(sys.argv[1]), json.loads(sys.argv[2])
for k, name in enumerate(names):
    lf = LabelFile(str((root / name).with_suffix(".json")))
    ours = np.load(Path(sys.argv[3]) / f"{k}.npy")
    groups = {}
    for s in lf.shapes:
        key = (s["label"], s["group_id"] if s["group_id"] is not None else uuid.uuid1())
        if s["shape_type"] == "mask":
            m = np.zeros(ours.shape[1:], bool)
            (x1, y1), (x2, y2) = np.asarray(s["points"]).astype(int)
            m[y1:y2 + 1, x1:x2 + 1] = s["mask"]
        else:
            m = utils.shape_to_mask(ours.shape[1:], s["points"], s["shape_type"])
        groups[key] = groups.get(key, np.zeros_like(m)) | m
    assert len(groups) == len(ours), name
    assert all(np.array_equal(a, b) for a, b in zip(groups.values(), ours)), name
print("ok")
"""
    names = json.dumps([im.file_name for im in dataset.images])
    python = os.environ.get("ISTR_LABELME_PYTHON", sys.executable)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [python, "-c", script, str(tmp_path / "lm"), names, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.stdout.strip().endswith("ok"), done.stderr[-2000:]
