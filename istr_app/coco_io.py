"""Qt-free COCO reading and writing for the app (RLE masks, atomic writes).

The written files are plain COCO that pycocotools and ``istr finetune`` accept. A few extra keys
(``istr_status`` on images, ``istr_source``/``istr_accepted`` on annotations) let the app restore the
review state when the file is reopened; other tools ignore them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from istr_core import formats
from istr_core.data.coco import AnnotationError, annotation_rle, parse_coco, resolve_image_path
from istr_core.data.export import mask_to_rle, write_json_atomic
from istr_core.data.locations import images_dir_info
from istr_core.formats import load_annotations
from istr_core.formats.coco import from_coco_data

from .document import HUMAN, MODEL, PRELABELLED, STATUSES, ImageRecord, Instance, Project

_EXIF_ORIENTATION = 0x0112


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) as ``read_image`` will return it (EXIF rotation applied), without decoding."""
    with Image.open(path) as im:
        w, h = im.size
        rotated = im.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
    return (w, h) if rotated else (h, w)


def record_size(rec: ImageRecord) -> tuple[int, int]:
    if rec.size is None:
        rec.size = image_size(rec.path)
    return rec.size


def project_to_coco(
    project: Project, keep_record: Callable[[ImageRecord], bool], keep_instance: Callable[[Instance], bool]
) -> dict:
    """The chosen records and instances as a COCO dict; category ids are class index + 1."""
    images, annotations = [], []
    for rec in project.records:
        if not keep_record(rec):
            continue
        h, w = record_size(rec)
        image_id = len(images) + 1
        images.append(
            {"id": image_id, "file_name": rec.key, "width": w, "height": h, "istr_status": rec.status}
        )
        for inst in rec.instances:
            if keep_instance(inst) and _encoded(inst)[2] > 0:
                annotations.append(_annotation(inst, len(annotations) + 1, image_id))
    categories = [{"id": k + 1, "name": n} for k, n in enumerate(project.class_names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def _encoded(inst: Instance) -> tuple[dict, list[float], float]:
    """(RLE, bbox, area) of the mask, cached per mask version: autosave runs after every edit and
    must not re-encode thousands of untouched masks."""
    if inst.rle_cache is None or inst.rle_cache[0] != inst.version:
        inst.rle_cache = (inst.version, *encode_mask(inst.mask))
    return inst.rle_cache[1:]


def _annotation(inst: Instance, ann_id: int, image_id: int) -> dict:
    rle, bbox, area = _encoded(inst)
    ann = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": inst.label + 1,
        "segmentation": dict(rle),
        "bbox": list(bbox),
        "area": area,
        "iscrowd": 0,
        "istr_source": inst.source,
        "istr_accepted": bool(inst.accepted),
    }
    if inst.score is not None:
        ann["score"] = float(inst.score)
    return ann


def save_coco(path: str | os.PathLike, coco: dict, images_dir: str | os.PathLike | None = None) -> Path:
    """Write atomically; with ``images_dir``, record it so `istr finetune PATH` finds the images."""
    if images_dir is not None:
        coco = {**coco, "info": {**coco.get("info", {}), **images_dir_info(path, images_dir)}}
    return write_json_atomic(path, coco)


def save_as(path: str | os.PathLike, coco: dict, fmt: str, images_dir: Path) -> list[str]:
    """Write the app's COCO dict as ``fmt`` (any registry format; images copied from ``images_dir``
    where the layout wants them); returns what the format could not hold."""
    if fmt == "coco":
        save_coco(path, coco, images_dir)
        return []
    dataset = from_coco_data(parse_coco(coco, Path(path), require_images=False))
    return formats.save(dataset, path, fmt, images_dir)


def format_of(path: Path) -> str:
    """The format of an existing annotations path; a new path is COCO (.json) or CVAT (.xml)."""
    if path.exists():
        return formats.detect(path)
    return "cvat" if path.suffix.lower() == ".xml" else "coco"


def read_coco(path: str | os.PathLike) -> tuple[dict, list[str]]:
    """A COCO file checked by the same validator as training (istr_core.data.coco.load_coco):
    schema errors raise :class:`AnnotationError` with one line naming the file and the entry; a bad
    annotation (degenerate polygon, RLE that does not fit its image - which could hang or overrun
    pycocotools) is dropped with a warning. Returns (the cleaned COCO dict, warnings); the app's own
    fields (``istr_status``, ``istr_source``, ``istr_accepted``) are kept."""
    try:
        checked = load_annotations(path, require_images=False)  # any format, checked as COCO
    except OSError as e:
        raise AnnotationError(f"cannot read {path}: {e}") from None
    data = {
        "images": [
            {**im.extra, "id": im.id, "file_name": im.file_name, "width": im.width, "height": im.height}
            for im in checked.images
        ],
        "annotations": [a for im in checked.images for a in im.annotations],
        "categories": checked.categories,
    }
    return data, list(checked.warnings)


def load_coco_into(project: Project, data: dict, source: str | os.PathLike | None = None) -> list[str]:
    """Put the annotations of a COCO dict onto the project's records; returns warnings, each naming
    ``source`` (the file ``data`` was read from) when given.

    Categories are merged into ``project.class_names`` by name. Images whose file is missing are
    skipped with a warning rather than failing the whole file (a reviewer can still work).
    """
    warnings: list[str] = []
    prefix = f"{source}: " if source is not None else ""
    cat_index = {c["id"]: project.class_index(str(c["name"])) for c in data.get("categories", [])}
    records: dict[int, ImageRecord] = {}
    filled: set[ImageRecord] = set()  # records this file has listed so far
    for k, im in enumerate(data["images"]):
        rec = _record_for(project, im, warnings, prefix)
        size = (int(im["height"]), int(im["width"]))
        if rec in filled and rec.size != size:  # the masks of this entry would not fit the record
            warnings.append(
                f"{prefix}images[{k}]: {rec.key!r} is listed again with another size ({size[1]}x{size[0]}, "
                f"not {rec.size[1]}x{rec.size[0]}); its annotations skipped"
            )
            continue
        if rec is not None:
            rec.size = size
            rec.instances = []
            rec.status = im.get("istr_status", PRELABELLED)
            rec.status = rec.status if rec.status in STATUSES else PRELABELLED
            records[im["id"]] = rec
            filled.add(rec)
    for ann in data.get("annotations", []):
        rec = records.get(ann.get("image_id"))
        if rec is None or ann.get("category_id") not in cat_index:
            warnings.append(f"{prefix}annotation {ann.get('id')!r}: unknown image or category, skipped")
            continue
        rec.instances.append(_instance(ann, cat_index[ann["category_id"]], rec.size))
    return warnings


def _record_for(project: Project, im: dict, warnings: list[str], prefix: str) -> ImageRecord | None:
    name = str(im.get("file_name", ""))
    if project.has(name):
        return project.record(name)
    try:
        path = resolve_image_path(project.folder, name)
    except AnnotationError as e:
        warnings.append(f"{prefix}{e}")
        return None
    if not path.is_file():
        warnings.append(f"{prefix}image {name!r} is not in {project.folder}, skipped")
        return None
    return project.add_record(path)


def _instance(ann: dict, label: int, size: tuple[int, int]) -> Instance:
    rle = annotation_rle(ann, *size)
    mask = mask_utils.decode(rle).astype(bool)
    score = ann.get("score")
    source = ann.get("istr_source", MODEL if score is not None else HUMAN)
    inst = Instance(
        np.ascontiguousarray(mask),
        label,
        None if score is None else float(score),
        source if source in (MODEL, HUMAN) else HUMAN,
        bool(ann.get("istr_accepted", False)),
    )
    counts = rle["counts"]
    # keep the file's (or the polygon's) RLE: the first autosave then re-encodes nothing, which on a
    # photo with hundreds of instances would stall the first edit for about a second
    inst.rle_cache = (
        0,
        *encoded_rle(
            {
                "size": list(rle["size"]),
                "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
            }
        ),
    )
    return inst


def encoded_rle(rle: dict) -> tuple[dict, list[float], float]:
    """(RLE, bbox, area) of a compressed RLE, computed on the RLE itself (cheap)."""
    coded = {"size": list(rle["size"]), "counts": rle["counts"].encode("ascii")}
    bbox = [float(v) for v in mask_utils.toBbox(coded)]
    return {"size": list(rle["size"]), "counts": rle["counts"]}, bbox, float(mask_utils.area(coded))


def encode_mask(mask: np.ndarray) -> tuple[dict, list[float], float]:
    """(RLE, bbox, area) of a bool mask; the pre-label worker calls it off the GUI thread."""
    return encoded_rle(mask_to_rle(mask))
