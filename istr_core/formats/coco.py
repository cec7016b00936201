"""COCO instances JSON: polygons and RLE in (validated by :func:`istr_core.data.coco.load_coco`), RLE out.

The only format that keeps scores and ``iscrowd``; the one the training and eval code reads.
"""

from __future__ import annotations

from pathlib import Path

from ..data.atomic import write_json_atomic
from ..data.coco import CocoData, annotation_rle, load_coco
from .dataset import Dataset, ImageEntry, Instance


def detect(path: Path) -> bool:
    if not (path.is_file() and path.suffix.lower() == ".json"):
        return False
    head = path.read_bytes()[:4096].decode("utf-8", "replace")
    if '"shapes"' in head and '"imagePath"' in head:
        return False  # a labelme file (whatever its labels are called)
    return '"images"' in head or '"annotations"' in head or '"categories"' in head


def load(path: Path) -> Dataset:
    return from_coco_data(load_coco(path, require_images=False))


def from_coco_data(coco: CocoData) -> Dataset:
    index = coco.class_index()
    images = []
    for im in coco.images:
        entry = ImageEntry(im.file_name, im.width, im.height)
        for a in im.annotations:
            rle = annotation_rle(a, im.height, im.width)
            counts = rle["counts"].decode("ascii") if isinstance(rle["counts"], bytes) else rle["counts"]
            seg = a["segmentation"]
            polys = [list(map(float, p)) for p in seg if len(p) >= 6] if isinstance(seg, list) else None
            score = a.get("score")
            entry.instances.append(
                Instance(
                    index[a["category_id"]],
                    {"size": [im.height, im.width], "counts": counts},
                    polygons=polys,
                    score=float(score) if isinstance(score, (int, float)) else None,
                    iscrowd=bool(a.get("iscrowd", 0)),
                )
            )
        images.append(entry)
    return Dataset(coco.class_names, images, list(coco.warnings))


def to_coco_dict(dataset: Dataset) -> dict:
    """The dataset as a COCO dict: RLE segmentations, category ids = class index + 1."""
    images, annotations = [], []
    for image_id, im in enumerate(dataset.images, start=1):
        images.append({"id": image_id, "file_name": im.file_name, "width": im.width, "height": im.height})
        for inst in im.instances:
            ann = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": inst.label + 1,
                "segmentation": dict(inst.rle),
                "area": float(inst.area),
                "bbox": inst.bbox(),
                "iscrowd": int(inst.iscrowd),
            }
            if inst.score is not None:
                ann["score"] = inst.score
            annotations.append(ann)
    categories = [{"id": k + 1, "name": n} for k, n in enumerate(dataset.class_names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def save(dataset: Dataset, path: Path, images_dir: Path | None = None) -> list[str]:
    """One JSON file (atomically). COCO names images relative to a folder of their own: none copied."""
    if path.suffix.lower() != ".json":
        path = path / "annotations.json"
    write_json_atomic(path, to_coco_dict(dataset))
    return []
