"""Qt-free reading and writing of the app's project file: COCO (RLE masks, atomic writes), or any
other format through istr_core.formats.

The written files are plain COCO that pycocotools and ``istr finetune`` accept. A few extra keys
(``istr_status`` on images, ``istr_source``/``istr_accepted`` on annotations) let the app restore the
review state when the file is reopened; other tools ignore them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from istr_core import formats
from istr_core.data.atomic import write_json_atomic
from istr_core.data.images import image_size
from istr_core.data.rle import annotation_rle, encode_mask, encoded_rle, rle_to_mask
from istr_core.formats import Annotation, Dataset, ImageEntry, load_annotations
from istr_core.formats.coco import CocoData, CocoImage, coco_dict
from istr_core.formats.dataset import AnnotationError, resolve_image_path
from istr_core.formats.locations import images_dir_info

from .document import HUMAN, MODEL, PRELABELLED, STATUSES, ImageRecord, Instance, Project

RecordFilter = Callable[[ImageRecord], bool]
InstanceFilter = Callable[[Instance], bool]


def record_size(rec: ImageRecord) -> tuple[int, int]:
    """(height, width) of a record, read from the file's header the first time it is needed."""
    if rec.size is None:
        w, h = image_size(rec.path)
        rec.size = (h, w)
    return rec.size


def project_to_coco(project: Project, keep_record: RecordFilter, keep_instance: InstanceFilter) -> dict:
    """The chosen records and instances as a COCO dict; category ids are class index + 1."""
    entries = [
        (
            {"file_name": rec.key, "width": w, "height": h, "istr_status": rec.status},
            [_annotation(inst) for inst in kept],
        )
        for rec, (h, w), kept in _chosen(project, keep_record, keep_instance)
    ]
    return coco_dict(entries, [{"id": k + 1, "name": n} for k, n in enumerate(project.class_names)])


def project_to_dataset(project: Project, keep_record: RecordFilter, keep_instance: InstanceFilter) -> Dataset:
    """The chosen records and instances as the formats' one in-memory dataset (for the other formats)."""
    images = [
        ImageEntry(rec.key, w, h, [_dataset_instance(inst) for inst in kept])
        for rec, (h, w), kept in _chosen(project, keep_record, keep_instance)
    ]
    return Dataset(list(project.class_names), images)


def _chosen(project: Project, keep_record: RecordFilter, keep_instance: InstanceFilter):
    """(record, (height, width), its kept instances) for every chosen record, in project order;
    an instance is kept when chosen and not empty."""
    for rec in filter(keep_record, project.records):
        size = record_size(rec)
        yield rec, size, [inst for inst in rec.instances if keep_instance(inst) and _encoded(inst)[2] > 0]


def _dataset_instance(inst: Instance) -> Annotation:
    score = None if inst.score is None else float(inst.score)
    return Annotation(inst.label, dict(_encoded(inst)[0]), score=score)


def _encoded(inst: Instance) -> tuple[dict, list[float], float]:
    """(RLE, bbox, area) of the mask, cached per mask version: autosave runs after every edit and
    must not re-encode thousands of untouched masks."""
    if inst.rle_cache is None or inst.rle_cache[0] != inst.version:
        inst.rle_cache = (inst.version, *encode_mask(inst.mask))
    return inst.rle_cache[1:]


def _annotation(inst: Instance) -> dict:
    rle, bbox, area = _encoded(inst)
    ann = {
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


@dataclass
class Saved:
    images: int
    instances: int
    warnings: list[str]  # what the format could not hold


def save_as(
    path: str | os.PathLike,
    project: Project,
    keep_record: RecordFilter,
    keep_instance: InstanceFilter,
    fmt: str,
) -> Saved:
    """Write the chosen records and instances as ``fmt`` (any registry format; images copied from
    the project folder where the layout wants them)."""
    if fmt == "coco":
        coco = project_to_coco(project, keep_record, keep_instance)
        save_coco(path, coco, project.folder)
        return Saved(len(coco["images"]), len(coco["annotations"]), [])
    dataset = project_to_dataset(project, keep_record, keep_instance)
    warnings = formats.save(dataset, path, fmt, project.folder)
    return Saved(len(dataset.images), dataset.num_instances, warnings)


def format_of(path: Path) -> str:
    """The format of an existing annotations path; a new path is COCO (.json) or CVAT (.xml)."""
    if path.exists():
        return formats.detect(path)
    return "cvat" if path.suffix.lower() == ".xml" else "coco"


def read_coco(path: str | os.PathLike) -> tuple[CocoData, list[str]]:
    """An annotations file of any format, checked by the same validator as training
    (:func:`istr_core.formats.coco.load_coco`): schema errors raise :class:`AnnotationError` with one
    line naming the file and the entry; a bad annotation (degenerate polygon, RLE that does not fit
    its image - which could hang or overrun pycocotools) is dropped with a warning. Returns (the
    validated file, warnings); the app's own fields (``istr_status``, ``istr_source``,
    ``istr_accepted``) are kept."""
    try:
        checked = load_annotations(path, require_images=False)  # any format, checked as COCO
    except OSError as e:
        raise AnnotationError(f"cannot read {path}: {e}") from None
    return checked, list(checked.warnings)


def load_coco_into(project: Project, coco: CocoData) -> list[str]:
    """Put the annotations of a validated file onto the project's records; returns warnings, each
    naming the file.

    Categories are merged into ``project.class_names`` by name. Images whose file is missing are
    skipped with a warning rather than failing the whole file (a reviewer can still work).
    """
    warnings: list[str] = []
    prefix = f"{coco.path}: "
    cat_index = {c["id"]: project.class_index(str(c["name"])) for c in coco.categories}
    loaded: set[str] = set()  # a file that lists one image twice gets both entries' masks
    for k, im in enumerate(coco.images):
        rec = _record_for(project, im, warnings, prefix)
        if rec is None:
            continue
        size = (im.height, im.width)
        if rec.key not in loaded:
            rec.instances, rec.size = [], size
            loaded.add(rec.key)
        elif rec.size != size:  # the masks of this entry would not fit the record
            warnings.append(
                f"{prefix}images[{k}]: {rec.key!r} is listed again with another size ({size[1]}x{size[0]}, "
                f"not {rec.size[1]}x{rec.size[0]}); its annotations skipped"
            )
            continue
        status = im.extra.get("istr_status", PRELABELLED)
        rec.status = status if status in STATUSES else PRELABELLED
        rec.instances += [_instance(ann, cat_index[ann["category_id"]], rec.size) for ann in im.annotations]
    return warnings


def _record_for(project: Project, im: CocoImage, warnings: list[str], prefix: str) -> ImageRecord | None:
    name = im.file_name
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
    score = ann.get("score")
    source = ann.get("istr_source", MODEL if score is not None else HUMAN)
    inst = Instance(
        np.ascontiguousarray(rle_to_mask(rle)),
        label,
        None if score is None else float(score),
        source if source in (MODEL, HUMAN) else HUMAN,
        bool(ann.get("istr_accepted", False)),
    )
    # keep the file's (or the polygon's) RLE: the first autosave then re-encodes nothing, which on a
    # photo with hundreds of instances would stall the first edit for about a second
    inst.rle_cache = (0, *encoded_rle(rle))
    return inst
