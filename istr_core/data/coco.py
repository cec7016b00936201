"""COCO instance annotations in: validated, with one clear error naming the problem and where.

``load_coco`` checks the schema before anything trains on it, because a bad file found after an
hour of training (or a traceback from deep inside pycocotools) is what users remember.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from .images import MAX_PIXELS


class AnnotationError(ValueError):
    """The annotation file cannot be used; the message names the file, the problem and where."""


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


def check_image_size(width: int, height: int, where: str) -> None:
    """Positive, and no larger than the image reader reads: a huge declared size would only exhaust
    memory once the masks are decoded at it."""
    if width <= 0 or height <= 0:
        raise AnnotationError(f"{where}: width and height must be positive, got {width}x{height}")
    if width * height > MAX_PIXELS:
        raise AnnotationError(
            f"{where}: image size {width}x{height} ({width * height / 1e6:.0f} MP) is above the "
            f"{MAX_PIXELS / 1e6:.0f} MP limit of the image reader"
        )


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
        if a.get("score") is not None and not _is_number(a["score"]):
            warnings.append(f"{loc}: 'score' is not a finite number; ignored")
            a = {k: v for k, v in a.items() if k != "score"}
        image.annotations.append(a)
    return warnings


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def far_outside(xs: list[float], ys: list[float], width: int, height: int) -> bool:
    """Any point farther beyond the image's sides than the larger of 1000 px, its width and its
    height. pycocotools and Pillow walk every pixel of an edge, so a point at 1e7 takes them seconds
    and one at 1e9 crashes pycocotools; no annotation needs points that far out."""
    margin = max(1000, width, height)
    return bool(xs) and (
        min(xs) < -margin or max(xs) > width + margin or min(ys) < -margin or max(ys) > height + margin
    )


def polygon_problem(poly, width: int, height: int) -> str | None:
    """Why one polygon part cannot be rasterised on a ``width`` x ``height`` image (None when it can)."""
    if not (isinstance(poly, list) and len(poly) >= 6 and len(poly) % 2 == 0):
        return "with fewer than 3 points"
    if not all(_is_number(v) for v in poly):
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
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, image.height, image.width))
        return None if mask_utils.area(rle) > 0 else "polygon with zero area (or outside the image)"
    if isinstance(seg, dict):
        size = seg.get("size")
        if not (isinstance(size, list) and len(size) == 2) or "counts" not in seg:
            return "RLE without 'size' [h, w] and 'counts'"
        if tuple(size) != (image.height, image.width):
            return f"RLE size {size} differs from the image size [{image.height}, {image.width}]"
        counts = _rle_counts(seg["counts"])
        if counts is None or any(c < 0 for c in counts) or sum(counts) != image.height * image.width:
            return f"RLE 'counts' do not describe a {image.height}x{image.width} mask"
        return None if sum(counts[1::2]) > 0 else "RLE mask with zero area"
    return f"'segmentation' has the wrong type ({type(seg).__name__})"


def _rle_counts(counts) -> list[int] | None:
    """Run lengths of an uncompressed (list) or compressed (COCO string) RLE; None when malformed."""
    if isinstance(counts, list):
        ok = all(isinstance(c, int) and not isinstance(c, bool) for c in counts)
        return counts if ok else None
    if not isinstance(counts, str):
        return None
    out, x, k = [], 0, 0  # the inverse of pycocotools' rleToString (5 bits per char, sign-extended)
    for ch in counts:
        c = ord(ch) - 48
        if not 0 <= c < 64:
            return None
        x |= (c & 0x1F) << (5 * k)
        k += 1
        if c & 0x20:
            continue
        if c & 0x10:
            x |= -1 << (5 * k)
        out.append(x + (out[-2] if len(out) > 2 else 0))
        x, k = 0, 0
    return None if k else out


def _bbox_problem(bbox, image: CocoImage) -> str | None:
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
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


def annotation_rle(ann: dict, height: int, width: int) -> dict:
    """Polygon / RLE segmentation -> compressed RLE (``counts`` bytes or str, as pycocotools gives)."""
    seg = ann["segmentation"]
    if isinstance(seg, list):
        polys = [p for p in seg if len(p) >= 6 and len(p) % 2 == 0]
        return mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    if isinstance(seg["counts"], list):
        return mask_utils.frPyObjects(seg, height, width)
    return seg


def annotation_mask(ann: dict, height: int, width: int) -> np.ndarray:
    """Polygon / RLE segmentation -> (H, W) uint8 mask."""
    return mask_utils.decode(annotation_rle(ann, height, width)).astype(np.uint8)


def resolve_image_path(images_dir: str | os.PathLike, file_name: str) -> Path:
    """``images_dir/file_name``, refusing names that escape the folder (``../../etc/passwd``)."""
    root = Path(images_dir).resolve()
    target = (root / file_name).resolve()
    if not target.is_relative_to(root):
        raise AnnotationError(f"file_name {file_name!r} points outside {images_dir}")
    return target
