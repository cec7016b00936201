"""`istr finetune`: class mapping by name, bad annotation files, and the segment -> finetune loop."""

import json

import pytest
import torch

from istr_core.train.checkpoint import load_checkpoint
from istr_core.train.warm_start import remap_class_rows
from tests.cli.conftest import load_json


def test_finetune_maps_classes_by_name_and_keeps_known_rows(
    run, synthetic_dataset, tiny_checkpoint, tmp_path
):
    ann, folder = synthetic_dataset
    data = load_json(ann)
    # rename one category, drop another, reorder: 'ring' and 'ellipse' are known, 'cell' is new
    data["categories"] = [{"id": 3, "name": "ring"}, {"id": 1, "name": "ellipse"}, {"id": 2, "name": "cell"}]
    data["annotations"] = [a for a in data["annotations"] if a["category_id"] in (1, 2, 3)]
    data["images"].append({"id": 99, "file_name": data["images"][0]["file_name"], "width": 128, "height": 96})
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    out = tmp_path / "ft.pt"
    result = run(
        "finetune",
        edited,
        "--images",
        folder,
        "--weights",
        tiny_checkpoint,
        "--out",
        out,
        "--iterations",
        "2",
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    assert "new: cell" in result.stderr
    tuned = load_checkpoint(out)
    assert tuned.class_names == ["ring", "ellipse", "cell"]
    assert tuned.model_config.num_classes == 3
    assert tuned.model_state["denoising_labels.weight"].shape[0] == 3  # per-class rows remapped too


def test_remap_copies_rows_by_name_and_uses_generic_row_for_single_class_base():
    state = {
        "s.class_logits.weight": torch.arange(6.0).view(3, 2),
        "s.class_logits.bias": torch.tensor([1.0, 2, 3]),
    }
    out = remap_class_rows(state, ["a", "b", "c"], ["c", "x", "a"])
    assert torch.equal(out["s.class_logits.weight"][0], torch.tensor([4.0, 5.0]))
    assert torch.equal(out["s.class_logits.weight"][2], torch.tensor([0.0, 1.0]))
    assert out["s.class_logits.bias"][1].item() == pytest.approx(-4.595, abs=1e-3)  # prior for new 'x'
    state["denoising_labels.weight"] = torch.arange(6.0).view(3, 2)
    out = remap_class_rows(state, ["a", "b", "c"], ["c", "x", "a"])
    assert torch.equal(out["denoising_labels.weight"][0], torch.tensor([4.0, 5.0]))
    assert torch.equal(out["denoising_labels.weight"][2], torch.tensor([0.0, 1.0]))
    single = {"s.class_logits.weight": torch.tensor([[7.0, 8.0]]), "s.class_logits.bias": torch.tensor([0.5])}
    out = remap_class_rows(single, ["object"], ["cell", "nucleus"])
    assert torch.equal(out["s.class_logits.weight"], torch.tensor([[7.0, 8.0], [7.0, 8.0]]))


def test_round_trip_segment_finetune_segment(run, synthetic_dataset, tiny_checkpoint, tmp_path):
    _, folder = synthetic_dataset
    first = tmp_path / "first.json"
    assert (
        run(
            "segment", folder, "--out", first, "--weights", tiny_checkpoint, "--score-threshold", "0"
        ).exit_code
        == 0
    )
    data = load_json(first)
    data["annotations"].append(
        {
            "id": 10**6,
            "image_id": 1,
            "category_id": 1,
            "iscrowd": 1,
            "segmentation": {"size": [96, 128], "counts": [0, 96 * 128]},
            "bbox": [0, 0, 128, 96],
            "area": 12288.0,
        }
    )
    first.write_text(json.dumps(data))  # a crowd region and scores: both must be accepted
    model = tmp_path / "tuned.pt"
    r = run(
        "finetune",
        first,
        "--images",
        folder,
        "--weights",
        tiny_checkpoint,
        "--out",
        model,
        "--iterations",
        "2",
        "--val",
        first,
    )
    assert r.exit_code == 0, r.output
    assert "val: mask AP" in r.stdout
    second = tmp_path / "second.json"
    assert (
        run("segment", folder, "--out", second, "--weights", model, "--score-threshold", "0").exit_code == 0
    )
    assert len(load_json(second)["images"]) == len(data["images"])


def _good(synthetic_dataset):
    ann, folder = synthetic_dataset
    return load_json(ann), folder


BAD_FILES = {
    "not json": (lambda d: "{not json", "not valid JSON"),
    "truncated": (lambda d: json.dumps(d)[:200], "not valid JSON"),
    "wrong schema": (
        lambda d: json.dumps({"images": {}, "annotations": [], "categories": []}),
        "'images' must be a list",
    ),
    "missing key": (
        lambda d: json.dumps({"images": d["images"], "categories": d["categories"]}),
        "missing top-level key 'annotations'",
    ),
    "no images": (lambda d: json.dumps({**d, "images": [], "annotations": []}), "lists no images"),
    "missing image ref": (
        lambda d: json.dumps({**d, "annotations": [{**d["annotations"][0], "image_id": 777}]}),
        "image_id 777 is not in 'images'",
    ),
    "missing category": (
        lambda d: json.dumps({**d, "annotations": [{**d["annotations"][0], "category_id": 55}]}),
        "category_id 55 is not in 'categories'",
    ),
    "missing file": (
        lambda d: json.dumps(
            {**d, "images": d["images"] + [{"id": 500, "file_name": "gone.png", "width": 5, "height": 5}]}
        ),
        "'gone.png' not found",
    ),
    "escaping path": (
        lambda d: json.dumps(
            {**d, "images": [{**d["images"][0], "file_name": "../../etc/passwd"}] + d["images"][1:]}
        ),
        "points outside",
    ),
    "duplicate image id": (
        lambda d: json.dumps({**d, "images": d["images"] + d["images"][:1]}),
        "duplicate image id",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_annotation_files_exit_2_with_one_clear_line(
    run, synthetic_dataset, tiny_checkpoint, tmp_path, case
):
    data, folder = _good(synthetic_dataset)
    make, message = BAD_FILES[case]
    bad = tmp_path / "bad.json"
    bad.write_text(make(data))
    out = tmp_path / "out.pt"
    r = run(
        "finetune", bad, "--images", folder, "--weights", tiny_checkpoint, "--out", out, "--iterations", "1"
    )
    assert r.exit_code == 2, r.output
    assert message in r.stderr and str(bad) in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3 and "Traceback" not in r.output  # rich may wrap one line
    assert not out.exists()


def test_debug_shows_the_traceback(run, synthetic_dataset, tiny_checkpoint, tmp_path):
    _, folder = synthetic_dataset
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    from istr_core.formats.dataset import AnnotationError

    with pytest.raises(AnnotationError):
        run(
            "finetune",
            bad,
            "--images",
            folder,
            "--weights",
            tiny_checkpoint,
            "--out",
            tmp_path / "o.pt",
            "--debug",
        )


def test_time_budget_trains_until_the_clock_runs_out(
    run, synthetic_dataset, tiny_checkpoint, tmp_path, monkeypatch
):
    """The trainer reads its clock twice per iteration; a clock that moves 1 s per reading makes
    the 6 s budget three iterations on any machine (with the real clock a loaded CI machine could
    spend the whole budget in the first step)."""
    import types

    from istr_core.train import loop

    readings = iter(range(10**6))
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(monotonic=lambda: float(next(readings))))
    ann, folder = synthetic_dataset
    out = tmp_path / "timed.pt"
    result = run(
        "finetune", ann, "--images", folder, "--weights", tiny_checkpoint, "--out", out,
        "--iterations", "1", "--time-budget", "0.1", "--device", "cpu",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    tuned = load_checkpoint(out)
    assert tuned.iteration == 3  # --iterations 1 was overridden by the 6 s budget: readings 0..6
    assert tuned.train_config.time_budget_s == pytest.approx(6.0)


def test_a_crowded_file_grows_the_proposals_and_says_so(run, tiny_checkpoint, tmp_path):
    import cv2
    import numpy as np

    image = np.full((96, 128, 3), 40, np.uint8)
    annotations = []
    for k in range(20):
        y, x = 4 + 18 * (k // 7), 4 + 18 * (k % 7)
        image[y : y + 10, x : x + 10] = 200
        square = [x, y, x + 10, y, x + 10, y + 10, x, y + 10]
        annotations.append(
            {"id": k + 1, "image_id": 1, "category_id": 1, "segmentation": [square], "area": 100.0,
             "bbox": [x, y, 10, 10], "iscrowd": 0}
        )  # fmt: skip
    cv2.imwrite(str(tmp_path / "crowd.png"), image)
    ann = tmp_path / "crowd.json"
    ann.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "crowd.png", "width": 128, "height": 96}],
                "annotations": annotations,
                "categories": [{"id": 1, "name": "square"}],
            }
        )
    )
    out = tmp_path / "crowd.pt"
    args = ("--weights", tiny_checkpoint, "--out", out, "--iterations", "2", "--device", "cpu")
    result = run("finetune", ann, *args)
    assert result.exit_code == 0, result.output
    assert "12 proposals grow to 30" in result.stderr
    tuned = load_checkpoint(out)
    assert tuned.model_config.head.num_proposals == 30
    assert tuned.model_state["proposal_features.weight"].shape[0] == 30
