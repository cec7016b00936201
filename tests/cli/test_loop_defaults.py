"""The loop's command line as users type it: `istr finetune anns.json` alone finds the images the file
records and writes anns.pt beside it; `istr segment --weights anns` then uses that model by name."""

import json
import shutil

from istr_core.formats.locations import resolve_images_dir, resolve_weights
from istr_core.train.checkpoint import load_checkpoint
from tests.cli.conftest import load_json


def test_segment_then_finetune_without_images_or_out_then_segment_by_name(
    run, synthetic_dataset, tiny_checkpoint, tmp_path, monkeypatch
):
    _, folder = synthetic_dataset
    work = tmp_path / "project"
    work.mkdir()
    anns = work / "anns.json"
    common = ("--device", "cpu", "--score-threshold", "0.0")
    assert run("segment", folder, "--out", anns, "--weights", tiny_checkpoint, *common).exit_code == 0
    info = load_json(anns)["info"]
    assert (anns.parent / info["images_dir"]).resolve() == folder.resolve()

    monkeypatch.chdir(tmp_path)  # another working directory: nothing may depend on it
    r = run("finetune", anns, "--weights", tiny_checkpoint, "--iterations", "1", "--device", "cpu")
    assert r.exit_code == 0, r.output
    model = work / "anns.pt"
    assert model.is_file() and str(model) in " ".join(r.stderr.split())  # printed at the end
    assert load_checkpoint(model).iteration == 1

    monkeypatch.chdir(work)
    again = tmp_path / "again.json"
    r = run("segment", folder, "--out", again, "--weights", "anns", *common)
    assert r.exit_code == 0, r.output
    assert load_json(again)["categories"] == [
        {"id": c["id"], "name": c["name"]} for c in load_json(anns)["categories"]
    ]


def test_a_json_beside_its_images_needs_no_images_option(synthetic_dataset, tmp_path):
    ann, folder = synthetic_dataset  # annotations.json sits in the images folder, no info recorded
    assert resolve_images_dir(ann) == folder


def test_moved_json_uses_the_absolute_folder_then_fails_with_one_clear_line(run, synthetic_dataset, tmp_path):
    ann, folder = synthetic_dataset
    data = load_json(ann)
    data["info"] = {"images_dir": "../nowhere", "images_dir_absolute": str(folder)}
    moved = tmp_path / "elsewhere" / "anns.json"
    moved.parent.mkdir()
    moved.write_text(json.dumps(data))
    assert resolve_images_dir(moved) == folder  # the relative path broke, the absolute one holds

    data["info"]["images_dir_absolute"] = str(tmp_path / "gone")
    moved.write_text(json.dumps(data))
    r = run("finetune", moved, "--iterations", "1", "--device", "cpu")
    assert r.exit_code == 2
    assert "cannot find its images" in r.stderr and "--images" in r.stderr
    assert "Traceback" not in r.output and not (moved.parent / "anns.pt").exists()


def test_weights_by_name_look_in_the_image_folder_and_its_models_folder(tiny_checkpoint, tmp_path):
    models = tmp_path / ".istr_models"
    models.mkdir()
    shutil.copy(tiny_checkpoint, models / "online.pt")
    assert resolve_weights("online", tmp_path) == models / "online.pt"
    assert resolve_weights(str(tiny_checkpoint), tmp_path) == tiny_checkpoint
    assert str(resolve_weights("missing", tmp_path)) == "missing"  # the loader says "not found"
    assert resolve_weights(None, tmp_path) is None
