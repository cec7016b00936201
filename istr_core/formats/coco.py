"""COCO instances JSON, the format training, fine-tuning and evaluation read: the one COCO reader
(validated) and writer of the project.

``load_coco`` checks the schema before anything trains on it, because a bad file found after an
hour of training (or a traceback from deep inside pycocotools) is what users remember: one clear
error naming the problem and where. Polygons and RLE are read; RLE is written. The only format that
keeps scores and ``iscrowd``. :func:`coco_dict` numbers images and annotations for every writer
(``istr segment``, the format converter, the GUI's project file, the synthetic scenes).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..data.atomic import write_json_atomic
from ..data.rle import annotation_rle, polygons_to_rle, rle_area, rle_counts
from .dataset import (
    Annotation,
    AnnotationError,
    Dataset,
    ImageEntry,
    check_image_size,
    far_outside,
    is_number,
    resolve_image_path,
)


@dataclass
class CocoImage:
    id: int
    file_name: str
    width: int
    height: int
    annotations: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # the entry's other keys (e.g. the GUI's ``istr_status``)


@dataclass
class CocoData:
    """A validated COCO file. ``categories`` keeps file order; class index i <-> categories[i]."""

    path: Path
    images: list[CocoImage]
    categories: list[dict]
    warnings: list[str] = field(default_factory=list)

    @property
    def class_names(self) -> list[str]:
        return [c["name"] for c in self.categories]

    def class_index(self) -> dict[int, int]:
        """category_id -> contiguous class index."""
        return {c["id"]: i for i, c in enumerate(self.categories)}

    @property
    def num_annotations(self) -> int:
        return sum(len(im.annotations) for im in self.images)

    def to_dict(self) -> dict:
        """The validated file as a COCO dict again, ids and each image's other keys kept."""
        images = [
            {**im.extra, "id": im.id, "file_name": im.file_name, "width": im.width, "height": im.height}
            for im in self.images
        ]
        annotations = [a for im in self.images for a in im.annotations]
        return {"images": images, "annotations": annotations, "categories": list(self.categories)}

    def subset(self, file_names: set[str]) -> CocoData:
        """The images named in ``file_names`` (file order kept), with their annotations."""
        return CocoData(self.path, [im for im in self.images if im.file_name in file_names], self.categories)


def load_coco(
    path: str | os.PathLike, images_dir: str | os.PathLike | None = None, require_images: bool = True
) -> CocoData:
    """Read and validate ``path``. With ``images_dir``, every image must exist inside it.

    Raises :class:`AnnotationError`. Problems that lose one annotation but not the dataset
    (degenerate polygons, zero-area masks) become ``warnings`` and that annotation is dropped.
    """
    path = Path(path)
    return parse_coco(_read_json(path), path, images_dir, require_images)


def parse_coco(
    data: dict, path: Path, images_dir: str | os.PathLike | None = None, require_images: bool = True
) -> CocoData:
    """Validate a COCO dict read from ``path`` (named in the messages); see :func:`load_coco`."""
    where = str(path)
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise AnnotationError(f"{where}: missing top-level key '{key}' (is this a COCO instances file?)")
        if not isinstance(data[key], list):
            raise AnnotationError(f"{where}: '{key}' must be a list, got {type(data[key]).__name__}")
    categories = _check_categories(data["categories"], where)
    images = _check_images(data["images"], where)
    if require_images and not images:
        raise AnnotationError(f"{where}: the file lists no images")
    warnings = _attach_annotations(data["annotations"], images, {c["id"] for c in categories}, where)
    if images_dir is not None:
        _check_files(images, Path(images_dir), where)
    return CocoData(path, list(images.values()), categories, warnings)


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise AnnotationError(f"{path}: annotation file not found")
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except UnicodeDecodeError:
        raise AnnotationError(f"{path}: not a text (UTF-8) file") from None
    except json.JSONDecodeError as exc:
        raise AnnotationError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: top level must be a JSON object, got {type(data).__name__}")
    return data


def _require(entry: dict, key: str, kind, where: str):
    if not isinstance(entry, dict):
        raise AnnotationError(f"{where}: must be an object, got {type(entry).__name__}")
    if key not in entry:
        raise AnnotationError(f"{where}: missing '{key}'")
    value = entry[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise AnnotationError(f"{where}: '{key}' has the wrong type ({type(value).__name__})")
    return value


def _check_categories(categories: list, where: str) -> list[dict]:
    seen_ids, seen_names, out = set(), set(), []
    for i, c in enumerate(categories):
        loc = f"{where}: categories[{i}]"
        cid, name = _require(c, "id", int, loc), _require(c, "name", str, loc)
        if cid in seen_ids:
            raise AnnotationError(f"{loc}: duplicate category id {cid}")
        if name in seen_names:
            raise AnnotationError(f"{loc}: duplicate category name {name!r}")
        seen_ids.add(cid)
        seen_names.add(name)
        out.append({"id": cid, "name": name})
    if not out:
        raise AnnotationError(f"{where}: the file defines no categories")
    return out


def _check_images(images: list, where: str) -> dict[int, CocoImage]:
    out: dict[int, CocoImage] = {}
    for i, im in enumerate(images):
        loc = f"{where}: images[{i}]"
        iid = _require(im, "id", int, loc)
        name = _require(im, "file_name", str, loc)
        w, h = _require(im, "width", int, loc), _require(im, "height", int, loc)
        if iid in out:
            raise AnnotationError(f"{loc}: duplicate image id {iid}")
        if not name:
            raise AnnotationError(f"{loc}: 'file_name' is empty")
        check_image_size(w, h, loc)
        extra = {k: v for k, v in im.items() if k not in ("id", "file_name", "width", "height")}
        out[iid] = CocoImage(iid, name, w, h, extra=extra)
    return out


def _attach_annotations(
    annotations: list, images: dict[int, CocoImage], category_ids: set[int], where: str
) -> list[str]:
    warnings, seen = [], set()
    for i, a in enumerate(annotations):
        loc = f"{where}: annotations[{i}]"
        aid = a.get("id") if isinstance(a, dict) else None
        if aid is not None:
            if not isinstance(aid, (int, float, str)) or isinstance(aid, bool):
                raise AnnotationError(f"{loc}: 'id' has the wrong type ({type(aid).__name__})")
            loc += f" (id {aid!r})"
            if aid in seen:
                raise AnnotationError(f"{loc}: duplicate annotation id {aid}")
            seen.add(aid)
        image_id = _require(a, "image_id", int, loc)
        category_id = _require(a, "category_id", int, loc)
        if image_id not in images:
            raise AnnotationError(f"{loc}: image_id {image_id} is not in 'images'")
        if category_id not in category_ids:
            raise AnnotationError(f"{loc}: category_id {category_id} is not in 'categories'")
        image = images[image_id]
        seg = a.get("segmentation")
        if isinstance(seg, list):
            seg = _polygon_parts(seg, image, loc, warnings)
        problem = _segmentation_problem(seg, image)
        if problem:
            warnings.append(f"{loc}: {problem}; annotation skipped")
            continue
        a = {**a, "segmentation": seg}
        if "bbox" in a and (problem := _bbox_problem(a["bbox"], image)):
            warnings.append(f"{loc}: {problem}; box recomputed from the segmentation")
            a = {k: v for k, v in a.items() if k not in ("bbox", "area")}
        if "area" in a and not (isinstance(a["area"], (int, float)) and math.isfinite(a["area"])):
            warnings.append(f"{loc}: 'area' is not a number; recomputed from the segmentation")
            a = {k: v for k, v in a.items() if k not in ("bbox", "area")}
        if a.get("iscrowd", 0) not in (0, 1):
            warnings.append(f"{loc}: 'iscrowd' must be 0 or 1; treated as 0")
            a = {**a, "iscrowd": 0}
        if a.get("score") is not None and not is_number(a["score"]):
            warnings.append(f"{loc}: 'score' is not a finite number; ignored")
            a = {k: v for k, v in a.items() if k != "score"}
        image.annotations.append(a)
    return warnings


def polygon_problem(poly, width: int, height: int) -> str | None:
    """Why one polygon part cannot be rasterised on a ``width`` x ``height`` image (None when it can)."""
    if not (isinstance(poly, list) and len(poly) >= 6 and len(poly) % 2 == 0):
        return "with fewer than 3 points"
    if not all(is_number(v) for v in poly):
        return "with non-numeric or non-finite coordinates"
    if far_outside(poly[0::2], poly[1::2], width, height):
        return f"with coordinates far outside the {width}x{height} image"
    return None


def _polygon_parts(seg: list, image: CocoImage, loc: str, warnings: list[str]) -> list:
    """The parts of a polygon segmentation that can be used; each other part is dropped with a
    warning, unless none is left (then the annotation is skipped, see :func:`_segmentation_problem`)."""
    problems = [polygon_problem(p, image.width, image.height) for p in seg]
    good = [p for p, problem in zip(seg, problems, strict=True) if problem is None]
    if not good:
        return seg
    for k, problem in enumerate(problems):
        if problem:
            warnings.append(f"{loc}: polygon part {k} {problem}; part dropped")
    return good


def _segmentation_problem(seg, image: CocoImage) -> str | None:
    """Why ``seg`` cannot be used on ``image`` (None when it can). RLE counts are checked before
    pycocotools sees them: counts that do not add up to h*w make it read past its buffers."""
    if seg is None:
        return "no 'segmentation'"
    if isinstance(seg, list):
        problems = [polygon_problem(p, image.width, image.height) for p in seg] or [
            "with fewer than 3 points"
        ]
        if all(problems):
            return f"polygon {problems[0]}"
        rle = polygons_to_rle(seg, image.height, image.width)
        return None if rle_area(rle) > 0 else "polygon with zero area (or outside the image)"
    if isinstance(seg, dict):
        size = seg.get("size")
        if not (isinstance(size, list) and len(size) == 2) or "counts" not in seg:
            return "RLE without 'size' [h, w] and 'counts'"
        if tuple(size) != (image.height, image.width):
            return f"RLE size {size} differs from the image size [{image.height}, {image.width}]"
        counts = rle_counts(seg["counts"])
        if counts is None or any(c < 0 for c in counts) or sum(counts) != image.height * image.width:
            return f"RLE 'counts' do not describe a {image.height}x{image.width} mask"
        return None if sum(counts[1::2]) > 0 else "RLE mask with zero area"
    return f"'segmentation' has the wrong type ({type(seg).__name__})"


def _bbox_problem(bbox, image: CocoImage) -> str | None:
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(is_number(v) for v in bbox)):
        return "'bbox' is not [x, y, width, height]"
    x, y, w, h = bbox
    if w <= 0 or h <= 0 or x >= image.width or y >= image.height or x + w <= 0 or y + h <= 0:
        return f"bbox {bbox} lies outside the {image.width}x{image.height} image or is empty"
    return None


def _check_files(images: dict[int, CocoImage], images_dir: Path, where: str) -> None:
    if not images_dir.is_dir():
        raise AnnotationError(f"images folder not found: {images_dir}")
    for im in images.values():
        try:
            target = resolve_image_path(images_dir, im.file_name)
        except AnnotationError as exc:
            raise AnnotationError(f"{where}: image {im.id} {exc}") from None
        if not target.is_file():
            raise AnnotationError(f"{where}: image {im.id} file {im.file_name!r} not found in {images_dir}")


def coco_dict(
    images: Iterable[tuple[dict, Iterable[dict]]], categories: list[dict], info: dict | None = None
) -> dict:
    """A COCO instances dict from (image entry, its annotations) pairs, in order: images get ids
    1, 2, ... and annotations 1, 2, ... across the file (as one run of ``istr segment`` numbers them);
    each entry and annotation keeps its own keys after the ids."""
    out_images, out_annotations = [], []
    for entry, entry_annotations in images:
        image_id = len(out_images) + 1
        out_images.append({"id": image_id, **entry})
        for ann in entry_annotations:
            out_annotations.append({"id": len(out_annotations) + 1, "image_id": image_id, **ann})
    coco = {"images": out_images, "annotations": out_annotations, "categories": categories}
    if info is not None:
        coco["info"] = info
    return coco


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
            counts = annotation_rle(a, im.height, im.width)["counts"]
            seg = a["segmentation"]
            polys = [list(map(float, p)) for p in seg if len(p) >= 6] if isinstance(seg, list) else None
            score = a.get("score")
            entry.instances.append(
                Annotation(
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
    images = [
        ({"file_name": im.file_name, "width": im.width, "height": im.height}, map(_annotation, im.instances))
        for im in dataset.images
    ]
    return coco_dict(images, [{"id": k + 1, "name": n} for k, n in enumerate(dataset.class_names)])


def _annotation(inst: Annotation) -> dict:
    ann = {
        "category_id": inst.label + 1,
        "segmentation": dict(inst.rle),
        "area": float(inst.area),
        "bbox": inst.bbox(),
        "iscrowd": int(inst.iscrowd),
    }
    if inst.score is not None:
        ann["score"] = inst.score
    return ann


def save(dataset: Dataset, path: Path, images_dir: Path | None = None) -> list[str]:
    """One JSON file (atomically). COCO names images relative to a folder of their own: none copied."""
    if path.suffix.lower() != ".json":
        path = path / "annotations.json"
    write_json_atomic(path, to_coco_dict(dataset))
    return []
