"""`istr segment`: every image kind, bad files skipped, atomic output, resume."""

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from istr_core.predict.journals import journal_path
from tests.cli.conftest import load_json, write_image


@pytest.fixture
def mixed_folder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    write_image(folder / "colour.jpg", rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))
    write_image(folder / "grey.png", rng.integers(0, 255, (50, 40), dtype=np.uint8))
    write_image(folder / "rgba.png", rng.integers(0, 255, (30, 30, 4), dtype=np.uint8))
    write_image(folder / "deep.tif", rng.integers(0, 65535, (40, 50), dtype=np.uint16))
    write_image(folder / "pic.bmp", rng.integers(0, 255, (20, 20, 3), dtype=np.uint8))
    write_image(folder / "sub dir" / "nested.webp", rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    good = (folder / "colour.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "fake.png").write_text("definitely not a png")
    return folder


def test_segment_writes_valid_coco_and_skips_bad_images(run, mixed_folder, tiny_checkpoint, tmp_path):
    out = tmp_path / "anns.json"
    result = run(
        "segment",
        mixed_folder,
        "--out",
        out,
        "--weights",
        tiny_checkpoint,
        "--score-threshold",
        "0.0",
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    data = load_json(out)
    names = sorted(im["file_name"] for im in data["images"])
    assert names == ["colour.jpg", "deep.tif", "grey.png", "pic.bmp", "rgba.png"]
    sizes = {im["file_name"]: (im["width"], im["height"]) for im in data["images"]}
    assert sizes["grey.png"] == (40, 50) and sizes["deep.tif"] == (50, 40)
    assert [c["name"] for c in data["categories"]] == ["ellipse", "polygon", "ring", "blob"]
    assert data["annotations"], "an untrained model at threshold 0 still predicts something"
    coco = COCO(str(out))
    for ann in data["annotations"]:
        assert set(ann) >= {
            "id",
            "image_id",
            "segmentation",
            "bbox",
            "area",
            "score",
            "category_id",
            "iscrowd",
        }
        assert ann["iscrowd"] == 0 and 0 <= ann["score"] <= 1
        assert mask_utils.area(ann["segmentation"]) == ann["area"] == coco.annToMask(ann).sum()
    # each bad file named once in a warning, counted in the summary
    for bad in ("empty.jpg", "truncated.jpg", "fake.png"):
        assert result.stderr.count(bad) == 1, result.stderr
    assert "3 skipped" in result.stderr
    assert not journal_path(out).exists()


def test_recursive_includes_sub_folders_with_relative_names(run, mixed_folder, tiny_checkpoint, tmp_path):
    out = tmp_path / "r.json"
    assert (
        run("segment", mixed_folder, "--out", out, "--weights", tiny_checkpoint, "--recursive").exit_code == 0
    )
    assert "sub dir/nested.webp" in [im["file_name"] for im in load_json(out)["images"]]


def test_score_threshold_filters(run, synthetic_dataset, tiny_checkpoint, tmp_path):
    _, folder = synthetic_dataset
    low, high = tmp_path / "low.json", tmp_path / "high.json"
    run("segment", folder, "--out", low, "--weights", tiny_checkpoint, "--score-threshold", "0")
    run("segment", folder, "--out", high, "--weights", tiny_checkpoint, "--score-threshold", "0.9")
    assert len(load_json(low)["annotations"]) > len(load_json(high)["annotations"])
    assert all(a["score"] >= 0.9 for a in load_json(high)["annotations"])


def test_resume_skips_finished_images_and_survives_a_torn_journal(
    run, synthetic_dataset, tiny_checkpoint, tmp_path
):
    _, folder = synthetic_dataset
    full = tmp_path / "full.json"
    run("segment", folder, "--out", full, "--weights", tiny_checkpoint, "--score-threshold", "0")
    reference = load_json(full)
    out = tmp_path / "part.json"
    journal = journal_path(out)
    # a run killed after two images: their records, then half a line
    first_two = [
        {
            "file_name": im["file_name"],
            "width": im["width"],
            "height": im["height"],
            "annotations": [
                {k: v for k, v in a.items() if k not in ("id", "image_id")}
                for a in reference["annotations"]
                if a["image_id"] == im["id"]
            ],
        }
        for im in reference["images"][:2]
    ]
    journal.write_text("".join(json.dumps(r) + "\n" for r in first_two) + '{"file_name": "scene_0')
    result = run(
        "segment", folder, "--out", out, "--weights", tiny_checkpoint, "--score-threshold", "0", "--resume"
    )
    assert result.exit_code == 0 and "2 from the interrupted run" in result.stderr
    resumed = load_json(out)
    assert [im["file_name"] for im in resumed["images"]] == [im["file_name"] for im in reference["images"]]
    assert len(resumed["annotations"]) == len(reference["annotations"])
    assert not journal.exists()


def test_existing_output_is_replaced_atomically(run, synthetic_dataset, tiny_checkpoint, tmp_path):
    _, folder = synthetic_dataset
    out = tmp_path / "anns.json"
    out.write_text('{"old": true}')
    assert run("segment", folder, "--out", out, "--weights", tiny_checkpoint).exit_code == 0
    assert "images" in load_json(out)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".anns.json")] == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--weights", "missing.pt"], "checkpoint file not found"),
        (["--score-threshold", "2"], "between 0 and 1"),
        (["--device", "tpu"], "unknown device"),
    ],
)
def test_bad_options_give_one_line_errors(run, synthetic_dataset, tiny_checkpoint, tmp_path, args, message):
    _, folder = synthetic_dataset
    base = ["--weights", tiny_checkpoint] if "--weights" not in args else []
    result = run("segment", folder, "--out", tmp_path / "x.json", *base, *args)
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "x.json").exists()


def test_empty_or_missing_folder(run, tiny_checkpoint, tmp_path):
    (tmp_path / "empty").mkdir()
    r = run("segment", tmp_path / "empty", "--out", tmp_path / "x.json", "--weights", tiny_checkpoint)
    assert r.exit_code == 2 and "no images found" in r.stderr
    r = run("segment", tmp_path / "nope", "--out", tmp_path / "x.json", "--weights", tiny_checkpoint)
    assert r.exit_code == 2 and "not a folder" in r.stderr


def test_snap_edges_writes_each_mask_snapped_to_the_image(run, tiny_checkpoint, tmp_path, monkeypatch):
    """``--snap-edges``: the masks written are the model's masks snapped by istr_core.predict.edge_snap
    (the one istr-app uses). The model's output is replaced by coarse masks (a pixel too wide around
    each blob, and one on bare background) so that some move and one stays."""
    from istr_core.predict.edge_snap import snap_to_edges
    from istr_core.predict.segmenter import Segmenter
    from istr_core.structures import Prediction
    from tests.core.predict.test_edge_snap import blob_image, disc

    shape = (96, 128)
    centres = ((20, 20, 9), (30, 70, 14), (70, 40, 12))
    image = blob_image([disc(shape, (y, x), r) for y, x, r in centres], bright=True, shape=shape)
    write_image(tmp_path / "imgs" / "blobs.png", image[..., ::-1])
    coarse = [disc(shape, (y, x), r + 1) for y, x, r in centres] + [disc(shape, (75, 105), 8)]

    def predict_batch(self, images, score_threshold=0.0):
        return [[Prediction(m, (0.0, 0.0, 1.0, 1.0), 0, 0.9) for m in coarse] for _ in images]

    monkeypatch.setattr(Segmenter, "predict_batch", predict_batch)
    written = {}
    for flag in ([], ["--snap-edges"]):
        out = tmp_path / f"anns{len(flag)}.json"
        args = ["--weights", tiny_checkpoint, "--device", "cpu", *flag]
        assert run("segment", tmp_path / "imgs", "--out", out, *args).exit_code == 0
        anns = load_json(out)["annotations"]
        written[bool(flag)] = [mask_utils.decode(a["segmentation"]).astype(bool) for a in anns]
    expected = snap_to_edges(image, coarse)
    assert [np.array_equal(m, c) for m, c in zip(expected, coarse, strict=True)] == [False] * 3 + [True]
    assert all(np.array_equal(w, c) for w, c in zip(written[False], coarse, strict=True))
    assert all(np.array_equal(w, e) for w, e in zip(written[True], expected, strict=True))
    assert len(written[True]) == 4
