"""istr-app with other formats: --annotations of a labelme folder saves back as labelme; File > Open
annotations… and Export as… go through the core registry."""

from pathlib import Path

from istr_core import formats


def test_labelme_folder_opens_and_saves_back_as_labelme(make_window, image_dir):
    formats.convert(image_dir / "truth.json", image_dir, "labelme")  # JSON beside each image
    truth = formats.load(image_dir / "truth.json")
    w = make_window(image_dir, "--annotations", str(image_dir), weights=False)
    c = w.controller
    assert c.annotations_format == "labelme"
    assert sum(len(r.instances) for r in c.project.records) == truth.num_instances
    c.set_current(0)
    c.select([c.record.instances[0].id])
    c.delete_selected()
    c.save()
    back = formats.load(image_dir)  # still a labelme folder, one object fewer
    assert formats.detect(image_dir) == "labelme"
    assert back.num_instances == truth.num_instances - 1


def test_open_annotations_and_export_as_use_the_registry(make_window, image_dir, tmp_path, monkeypatch):
    yolo = tmp_path / "y"
    formats.convert(image_dir / "truth.json", yolo, "yolo", images_dir=image_dir)
    w = make_window(image_dir, weights=False)
    answers = iter([("yolo", True), ("voc", True)])
    folders = iter([str(yolo), str(tmp_path / "voc")])
    monkeypatch.setattr("istr_app.ui.main_window.QInputDialog.getItem", lambda *a, **k: next(answers))
    monkeypatch.setattr(
        "istr_app.ui.main_window.QFileDialog.getExistingDirectory", lambda *a, **k: next(folders)
    )
    w.actions_by_name["open_annotations"].trigger()
    c = w.controller
    assert c.annotations == Path(yolo) and c.annotations_format == "yolo"
    n = sum(len(r.instances) for r in c.project.records)
    assert n == formats.load(yolo).num_instances > 0
    (tmp_path / "voc").mkdir()
    w.actions_by_name["export_as"].trigger()
    assert formats.detect(tmp_path / "voc") == "voc"
    assert formats.load(tmp_path / "voc").num_instances == n
    assert c.annotations == Path(yolo)  # exporting does not change the open file
