"""The one in-memory dataset every format loads into and saves from (conversions meet here).

Why masks as the truth: every format can be rasterised, not every one can hold a polygon. An
instance keeps the polygons it was read as (``polygons``, COCO pixel coordinates: pixel (i, j)
covers [i, i+1) x [j, j+1)) so that polygon formats (COCO, labelme, CVAT) pass them through unchanged;
mask formats and YOLO work from the mask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from ..data.coco import AnnotationError, check_image_size, far_outside
from ..data.export import mask_to_rle


@dataclass
class Instance:
    """One object: class index into ``Dataset.class_names`` and its full-image mask as COCO RLE."""

    label: int
    rle: dict  # {"size": [h, w], "counts": str} (compressed)
    polygons: list[list[float]] | None = None  # [x0, y0, x1, y1, ...] per part, as read
    score: float | None = None
    iscrowd: bool = False

    def mask(self) -> np.ndarray:
        """(H, W) bool."""
        return mask_utils.decode({"size": self.rle["size"], "counts": self.rle["counts"].encode()}).astype(
            bool
        )

    @property
    def area(self) -> int:
        return int(mask_utils.area({"size": self.rle["size"], "counts": self.rle["counts"].encode()}))

    def bbox(self) -> list[float]:
        """Tight (x, y, w, h) of the mask."""
        coded = {"size": self.rle["size"], "counts": self.rle["counts"].encode()}
        return [float(v) for v in mask_utils.toBbox(coded)]


@dataclass
class ImageEntry:
    """An image: ``file_name`` relative to the images folder, '/'-separated, UTF-8."""

    file_name: str
    width: int
    height: int
    instances: list[Instance] = field(default_factory=list)


@dataclass
class Dataset:
    """Class names in order (index = class), images in order, and the per-item warnings of loading."""

    class_names: list[str]
    images: list[ImageEntry]
    warnings: list[str] = field(default_factory=list)

    @property
    def num_instances(self) -> int:
        return sum(len(im.instances) for im in self.images)


def instance_from_mask(mask: np.ndarray, label: int, score: float | None = None) -> Instance | None:
    """None for an empty mask (nothing to keep)."""
    if not mask.any():
        return None
    return Instance(label, mask_to_rle(mask), score=score)


def instance_from_polygons(polys: list[list[float]], label: int, height: int, width: int) -> Instance | None:
    """COCO-convention polygons rasterised as pycocotools does; None when they cover no pixel."""
    rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    if mask_utils.area(rle) == 0:
        return None
    counts = rle["counts"].decode("ascii") if isinstance(rle["counts"], bytes) else rle["counts"]
    return Instance(
        label, {"size": [height, width], "counts": counts}, polygons=[list(map(float, p)) for p in polys]
    )


def merge_instances(parts: list[Instance]) -> Instance:
    """Union of the shapes of one object (labelme / CVAT ``group_id``); polygons kept when all have them."""
    if len(parts) == 1:
        return parts[0]
    coded = [{"size": p.rle["size"], "counts": p.rle["counts"].encode()} for p in parts]
    rle = mask_utils.merge(coded)
    polys = None
    if all(p.polygons for p in parts):
        polys = [poly for p in parts for poly in p.polygons]
    return Instance(
        parts[0].label, {"size": list(rle["size"]), "counts": rle["counts"].decode()}, polygons=polys
    )


def check_points(values, where: str, width: int, height: int) -> list[float]:
    """Flat finite x, y numbers not far outside the image, or an error naming ``where``: NaN and
    strings never reach pycocotools, nor far-off points (see :func:`far_outside`)."""
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
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
    """(width, height) from the header, EXIF rotation applied (as training reads the image)."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            rotated = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except Exception as exc:  # corrupt headers: Pillow's plugins raise SyntaxError, struct.error, ...
        raise AnnotationError(f"{path}: not a readable image ({exc or type(exc).__name__})") from None
    check_image_size(w, h, str(path))
    return (h, w) if rotated else (w, h)


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
