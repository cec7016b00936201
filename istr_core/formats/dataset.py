"""The one in-memory dataset every format loads into and saves from (conversions meet here).

Why masks as the truth: every format can be rasterised, not every one can hold a polygon. An
instance keeps the polygons it was read as (``polygons``, COCO pixel coordinates: pixel (i, j)
covers [i, i+1) x [j, j+1)) so that polygon formats (COCO, labelme, CVAT) pass them through unchanged;
mask formats and YOLO work from the mask.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from ..data import images
from ..data.images import MAX_PIXELS, ImageReadError
from ..data.rle import mask_to_rle, merge_rles, polygons_to_rle, rle_area, rle_bbox, rle_to_mask


class AnnotationError(ValueError):
    """The annotation file cannot be used; the message names the file, the problem and where."""


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


def is_number(v) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def far_outside(xs: list[float], ys: list[float], width: int, height: int) -> bool:
    """Any point farther beyond the image's sides than the larger of 1000 px, its width and its
    height. pycocotools and Pillow walk every pixel of an edge, so a point at 1e7 takes them seconds
    and one at 1e9 crashes pycocotools; no annotation needs points that far out."""
    margin = max(1000, width, height)
    return bool(xs) and (
        min(xs) < -margin or max(xs) > width + margin or min(ys) < -margin or max(ys) > height + margin
    )


@dataclass
class Annotation:
    """One object: class index into ``Dataset.class_names`` and its full-image mask as COCO RLE."""

    label: int
    rle: dict  # {"size": [h, w], "counts": str} (compressed)
    polygons: list[list[float]] | None = None  # [x0, y0, x1, y1, ...] per part, as read
    score: float | None = None
    iscrowd: bool = False

    def mask(self) -> np.ndarray:
        """(H, W) bool."""
        return rle_to_mask(self.rle)

    @property
    def area(self) -> int:
        return rle_area(self.rle)

    def bbox(self) -> list[float]:
        """Tight (x, y, w, h) of the mask."""
        return rle_bbox(self.rle)


@dataclass
class ImageEntry:
    """An image: ``file_name`` relative to the images folder, '/'-separated, UTF-8."""

    file_name: str
    width: int
    height: int
    instances: list[Annotation] = field(default_factory=list)


@dataclass
class Dataset:
    """Class names in order (index = class), images in order, and the per-item warnings of loading."""

    class_names: list[str]
    images: list[ImageEntry]
    warnings: list[str] = field(default_factory=list)

    @property
    def num_instances(self) -> int:
        return sum(len(im.instances) for im in self.images)


def annotation_from_mask(mask: np.ndarray, label: int, score: float | None = None) -> Annotation | None:
    """None for an empty mask (nothing to keep)."""
    if not mask.any():
        return None
    return Annotation(label, mask_to_rle(mask), score=score)


def annotation_from_polygons(
    polys: list[list[float]], label: int, height: int, width: int
) -> Annotation | None:
    """COCO-convention polygons rasterised as pycocotools does; None when they cover no pixel."""
    rle = polygons_to_rle(polys, height, width)
    if rle_area(rle) == 0:
        return None
    return Annotation(label, rle, polygons=[list(map(float, p)) for p in polys])


def merge_annotations(parts: list[Annotation]) -> Annotation:
    """Union of the shapes of one object (labelme / CVAT ``group_id``); polygons kept when all have them."""
    if len(parts) == 1:
        return parts[0]
    polys = None
    if all(p.polygons for p in parts):
        polys = [poly for p in parts for poly in p.polygons]
    return Annotation(parts[0].label, merge_rles([p.rle for p in parts]), polygons=polys)


def check_points(values, where: str, width: int, height: int) -> list[float]:
    """Flat finite x, y numbers not far outside the image, or an error naming ``where``: NaN and
    strings never reach pycocotools, nor far-off points (see :func:`far_outside`)."""
    if not all(is_number(v) for v in values):
        raise AnnotationError(f"{where}: coordinates are not finite numbers")
    if far_outside(values[0::2], values[1::2], width, height):
        raise AnnotationError(f"{where}: coordinates far outside the {width}x{height} image")
    return [float(v) for v in values]


def one_line(value) -> str:
    """``value`` for a message: a printable string as it is, anything else as its repr (one line)."""
    return value if isinstance(value, str) and value.isprintable() else repr(value)


def safe_relative(name: str, where: str) -> str:
    """``name`` as a '/'-separated relative path inside its folder, or an error (no ``..``, no absolute)."""
    name = name.replace("\\", "/")
    p = PurePosixPath(name)
    if not name or p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise AnnotationError(f"{where}: image path {name!r} leaves the dataset folder")
    return str(p)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image the annotations name (:func:`istr_core.data.images.image_size`),
    an :class:`AnnotationError` when it cannot be read."""
    try:
        w, h = images.image_size(path)
    except ImageReadError as exc:
        raise AnnotationError(str(exc)) from None
    check_image_size(w, h, str(path))
    return w, h


def ordered_classes(declared: list[str], used: list[str], warnings: list[str], where: str) -> list[str]:
    """The declared class list, then any class only found in use (first appearance); a class
    declared twice (in ``where``) is one class, with a warning."""
    out: list[str] = []
    for name in declared:
        if name in out:
            warnings.append(f"{where}: class {name!r} is declared twice; read as one class")
        else:
            out.append(name)
    for name in used:
        if name not in out:
            out.append(name)
    return out


def resolve_image_path(images_dir: str | os.PathLike, file_name: str) -> Path:
    """``images_dir/file_name``, refusing names that escape the folder (``../../etc/passwd``)."""
    root = Path(images_dir).resolve()
    target = (root / file_name).resolve()
    if not target.is_relative_to(root):
        raise AnnotationError(f"file_name {file_name!r} points outside {images_dir}")
    return target
