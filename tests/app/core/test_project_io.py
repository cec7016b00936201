"""Qt-free COCO round trips and autosave/recovery."""

import json

import numpy as np
from pycocotools.coco import COCO

from istr_app.core import autosave
from istr_app.core.document import MODEL, PRELABELLED, REVIEWED, UNLABELLED, Instance, Project
from istr_app.core.project_io import load_coco_into, project_to_coco, read_coco, save_coco
from istr_core.data.images import list_images
from istr_core.formats.coco import load_coco


def labelled_project(folder):
    p = Project(folder, list_images(folder), ["ellipse", "polygon"])
    rec = p.records[0]
    h, w = rec.size = (96, 128)
    ring = np.zeros((h, w), bool)
    ring[10:50, 10:60] = True
    ring[20:30, 20:30] = False  # hole must survive
    rec.instances = [
        Instance(ring, 1),
        Instance(np.pad(np.ones((5, 5), bool), ((60, 31), (70, 53))), 0, 0.7, MODEL),
    ]
    rec.status = REVIEWED
    return p


def test_save_is_valid_coco_and_round_trips_pixelwise(synthetic_dataset, tmp_path):
    _, folder = synthetic_dataset
    p = labelled_project(folder)
    out = save_coco(tmp_path / "a.json", project_to_coco(p, lambda r: r.status != UNLABELLED, lambda i: True))
    coco = COCO(str(out))
    assert len(coco.getAnnIds()) == 2 and sorted(coco.getCatIds()) == [1, 2]
    strict = load_coco(out, folder)  # what istr finetune reads
    assert len(strict.images) == 1
    q = Project(folder, list_images(folder))
    load_coco_into(q, read_coco(out)[0])
    a, b = p.records[0].instances, q.records[0].instances
    assert [np.array_equal(x.mask, y.mask) for x, y in zip(a, b, strict=True)] == [True, True]
    assert [q.class_names[i.label] for i in b] == ["polygon", "ellipse"]
    assert b[1].score == 0.7 and b[1].source == MODEL and q.records[0].status == REVIEWED


def test_an_image_listed_twice_gets_the_masks_of_both_entries(synthetic_dataset, tmp_path):
    ann, folder = synthetic_dataset
    data = json.loads(ann.read_text())
    first = data["images"][0]
    twin = {**first, "id": 10_000}
    anns = [a for a in data["annotations"] if a["image_id"] == first["id"]][:1]
    data.update(images=[first, twin], annotations=anns + [{**anns[0], "id": 10_000, "image_id": 10_000}])
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(data))
    p = Project(folder, list_images(folder))
    assert load_coco_into(p, read_coco(path)[0]) == []
    assert len(p.record(first["file_name"]).instances) == 2


def test_open_foreign_coco_marks_prelabelled(synthetic_dataset):
    ann, folder = synthetic_dataset
    p = Project(folder, list_images(folder))
    warnings = load_coco_into(p, read_coco(ann)[0])
    assert warnings == []
    assert all(r.status == PRELABELLED for r in p.records)
    expected = len(json.loads(ann.read_text())["annotations"])
    assert sum(len(r.instances) for r in p.records) == expected


def test_autosave_and_recovery(synthetic_dataset, tmp_path):
    _, folder = synthetic_dataset
    p = labelled_project(folder)
    side = autosave.sidecar_path(folder, tmp_path / "anns.json")
    assert side.name == "anns.json.autosave.json"
    assert autosave.sidecar_path(folder, None) == folder / ".istr_autosave.json"
    assert not autosave.recovery_available(side)
    autosave.write_autosave(p, side)
    assert autosave.recovery_available(side)
    q = Project(folder, list_images(folder))
    autosave.recover(q, side)
    assert np.array_equal(q.records[0].instances[0].mask, p.records[0].instances[0].mask)
    autosave.discard(side)
    assert not autosave.recovery_available(side)


def test_encoded_rle_matches_direct_encoding():
    from istr_core.data.rle import encode_mask, mask_bbox_xywh, mask_to_rle

    m = np.zeros((40, 50), bool)
    m[3:17, 8:30] = True
    m[30, 49] = True
    rle, bbox, area = encode_mask(m)
    assert rle == mask_to_rle(m) and bbox == mask_bbox_xywh(m) and area == m.sum()
    assert encode_mask(np.zeros((4, 5), bool)) == (mask_to_rle(np.zeros((4, 5), bool)), [0.0] * 4, 0.0)


def test_background_writer_keeps_the_newest_snapshot(tmp_path):
    writer = autosave.BackgroundWriter()
    path = tmp_path / "side.json"
    for k in range(20):
        writer.submit(path, {"images": [], "annotations": [], "categories": [], "n": k})
    assert writer.flush(10)
    assert json.loads(path.read_text())["n"] == 19 and writer.error is None
    writer.submit(tmp_path, {"images": []})  # a folder: the write fails, the error is kept
    assert writer.flush(10) and writer.error


def test_open_istr_segment_output(synthetic_dataset, tiny_checkpoint, tmp_path):
    from istr_core.predict.folder import segment_folder
    from istr_core.predict.segmenter import Segmenter

    _, folder = synthetic_dataset
    seg = Segmenter.from_checkpoint(tiny_checkpoint, device="cpu")
    out = tmp_path / "segment.json"
    segment_folder(folder, out, seg, score_threshold=0.0, warn=lambda s: None)
    coco = read_coco(out)[0]
    p = Project(folder, list_images(folder))
    assert load_coco_into(p, coco) == []
    loaded = [i for r in p.records for i in r.instances]
    assert len(loaded) == coco.num_annotations > 0
    assert all(i.source == MODEL and i.score is not None for i in loaded)
    assert all(r.status == PRELABELLED for r in p.records if r.key in {im.file_name for im in coco.images})
