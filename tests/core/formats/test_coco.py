import json

import pytest

from istr_core.formats.coco import load_coco
from istr_core.formats.dataset import AnnotationError, resolve_image_path


def _write(tmp_path, data):
    p = tmp_path / "a.json"
    p.write_text(json.dumps(data))
    return p


def _base():
    return {
        "images": [{"id": 1, "file_name": "x.png", "width": 10, "height": 8}],
        "categories": [{"id": 7, "name": "cell"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "segmentation": [[0, 0, 5, 0, 5, 5]]}],
    }


def test_degenerate_segmentations_are_dropped_with_warnings(tmp_path):
    d = _base()
    d["annotations"] += [
        {"id": 2, "image_id": 1, "category_id": 7, "segmentation": [[0, 0, 1, 1]]},
        {"id": 3, "image_id": 1, "category_id": 7, "segmentation": {"size": [3, 3], "counts": "abc"}},
        {"id": 4, "image_id": 1, "category_id": 7},
    ]
    coco = load_coco(_write(tmp_path, d))
    assert [a["id"] for a in coco.images[0].annotations] == [1]
    assert len(coco.warnings) == 3
    assert "fewer than 3 points" in coco.warnings[0] and "differs from the image size" in coco.warnings[1]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["annotations"].append(dict(d["annotations"][0])), "duplicate annotation id 1"),
        (lambda d: d["categories"].append({"id": 8, "name": "cell"}), "duplicate category name"),
        (lambda d: d["images"][0].update(width=0), "must be positive"),
        (lambda d: d["images"][0].update(id="one"), "'id' has the wrong type"),
        (lambda d: d.update(categories=[]), "defines no categories"),
    ],
)
def test_schema_errors_name_the_place(tmp_path, mutate, message):
    d = _base()
    mutate(d)
    with pytest.raises(AnnotationError, match=message):
        load_coco(_write(tmp_path, d))


def test_paths_cannot_escape_the_images_folder(tmp_path):
    with pytest.raises(AnnotationError, match="points outside"):
        resolve_image_path(tmp_path, "../../etc/passwd")
    with pytest.raises(AnnotationError, match="points outside"):
        resolve_image_path(tmp_path, "/etc/passwd")
    assert resolve_image_path(tmp_path, "sub/a.png") == (tmp_path / "sub/a.png").resolve()


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    """mkstemp creates 0600 files; a user's annotation file must be as readable as any other."""
    import os

    from istr_core.data.atomic import write_json_atomic

    umask = os.umask(0o022)
    try:
        out = write_json_atomic(tmp_path / "a.json", {"x": 1})
        assert out.stat().st_mode & 0o777 == 0o644
        out.chmod(0o640)
        write_json_atomic(out, {"x": 2})
        assert out.stat().st_mode & 0o777 == 0o640  # an existing file keeps its mode
    finally:
        os.umask(umask)
