"""`istr convert`, `istr segment --format` and the training commands reading other formats."""

import json

from istr_core import formats
from tests.cli.conftest import load_json


def test_convert_detects_the_input_and_says_what_it_wrote(run, synthetic_dataset, tmp_path):
    ann, folder = synthetic_dataset
    r = run("convert", ann, "--to", "yolo", "--out", tmp_path / "y", "--images", folder)
    assert r.exit_code == 0, r.output
    assert "wrote" in r.stderr and "(yolo, from coco): 6 images" in r.stderr
    assert (tmp_path / "y" / "data.yaml").is_file() and len(list((tmp_path / "y" / "images").iterdir())) == 6
    r = run(
        "convert",
        tmp_path / "y",
        "--to",
        "labelme",
        "--out",
        tmp_path / "lm",
        "--images",
        tmp_path / "y" / "images",
    )
    assert r.exit_code == 0 and "(labelme, from yolo)" in r.stderr
    back = tmp_path / "back.json"
    assert run("convert", tmp_path / "lm", "--to", "coco", "--out", back).exit_code == 0
    a, b = load_json(ann), load_json(back)
    assert [c["name"] for c in a["categories"]] == [c["name"] for c in b["categories"]]
    assert len(a["annotations"]) == len(b["annotations"])


def test_convert_refuses_to_overwrite_its_input(run, synthetic_dataset):
    ann, _ = synthetic_dataset
    r = run("convert", ann, "--to", "coco", "--out", ann)
    assert r.exit_code == 2 and "--out is the input" in r.stderr


def test_segment_format_writes_a_dataset_folder(run, synthetic_dataset, tiny_checkpoint, tmp_path):
    _, folder = synthetic_dataset
    out = tmp_path / "pre"
    r = run(
        "segment",
        folder,
        "--out",
        out,
        "--weights",
        tiny_checkpoint,
        "--score-threshold",
        "0",
        "--format",
        "voc",
    )
    assert r.exit_code == 0, r.output
    assert formats.detect(out) == "voc" and len(formats.load(out).images) == 6
    assert not list(tmp_path.glob(".pre*"))  # the intermediate COCO file is gone


def test_finetune_and_eval_read_a_yolo_folder(run, synthetic_dataset, tiny_checkpoint, tmp_path):
    ann, folder = synthetic_dataset
    data = load_json(ann)
    data["images"], data["annotations"] = (
        data["images"][:2],
        [a for a in data["annotations"] if a["image_id"] <= 2],
    )
    small = tmp_path / "small.json"
    small.write_text(json.dumps(data))
    yolo = tmp_path / "y"
    assert run("convert", small, "--to", "yolo", "--out", yolo, "--images", folder).exit_code == 0
    model = tmp_path / "m.pt"
    args = ["--images", yolo / "images", "--weights", tiny_checkpoint]
    r = run("finetune", yolo, *args, "--out", model, "--iterations", "1")
    assert r.exit_code == 0, r.output
    r = run("eval", yolo / "data.yaml", "--images", yolo / "images", "--weights", model, "--json")
    assert r.exit_code == 0, r.output
    assert "segm" in json.loads(r.stdout)
