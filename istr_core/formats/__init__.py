"""Annotation formats in and out: one in-memory :class:`Dataset`, one module per format.

``FORMATS`` maps a format name to its ``(load, save, detect)`` functions; the CLI and the GUI find
every format through it. Conversions meet in the middle (``load`` into a Dataset, ``save`` from
it): adding a format is one module and one line here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import coco, cvat, labelme, voc, yolo
from .coco import CocoData, load_coco, parse_coco
from .dataset import Annotation, AnnotationError, Dataset, ImageEntry

__all__ = [
    "FORMATS",
    "Dataset",
    "ImageEntry",
    "Annotation",
    "convert",
    "detect",
    "load",
    "load_annotations",
    "save",
]

# name: (load(path) -> Dataset, save(dataset, path, images_dir) -> warnings, detect(path) -> bool)
FORMATS: dict[str, tuple[Callable, Callable, Callable[[Path], bool]]] = {
    "coco": (coco.load, coco.save, coco.detect),
    "cvat": (cvat.load, cvat.save, cvat.detect),
    "labelme": (labelme.load, labelme.save, labelme.detect),
    "voc": (voc.load, voc.save, voc.detect),
    "yolo": (yolo.load, yolo.save, yolo.detect),
}
DETECT_ORDER = ("voc", "yolo", "cvat", "coco", "labelme")  # folder layouts first, JSON sniffing last


def detect(path: str | os.PathLike) -> str:
    """The format of ``path`` (a file or a dataset folder), or an error saying what was looked for."""
    path = Path(path)
    if not path.exists():
        raise AnnotationError(f"{path}: not found")
    try:
        found = next((name for name in DETECT_ORDER if FORMATS[name][2](path)), None)
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if found is None:
        raise AnnotationError(
            f"{path}: cannot tell its format (looked for a COCO/labelme .json, CVAT .xml, YOLO data.yaml, "
            f"VOC SegmentationObject/); pass --from {'|'.join(FORMATS)}"
        )
    return found


def check_format(name: str) -> str:
    if name not in FORMATS:
        raise AnnotationError(f"unknown format {name!r}; choose from {', '.join(FORMATS)}")
    return name


def load(path: str | os.PathLike, fmt: str | None = None) -> Dataset:
    path = Path(path)
    fmt = check_format(fmt) if fmt else detect(path)
    if not path.exists():
        raise AnnotationError(f"{path}: not found")
    return FORMATS[fmt][0](path)


def save(
    dataset: Dataset, path: str | os.PathLike, fmt: str, images_dir: str | os.PathLike | None = None
) -> list[str]:
    """Write ``dataset``; returns warnings about what the format could not hold."""
    warnings = [] if fmt == "coco" else _crowd_warning(dataset)
    return warnings + FORMATS[check_format(fmt)][1](
        dataset, Path(path), Path(images_dir) if images_dir else None
    )


def _crowd_warning(dataset: Dataset) -> list[str]:
    n = sum(inst.iscrowd for im in dataset.images for inst in im.instances)
    return [f"{n} crowd regions (iscrowd) written as ordinary objects"] if n else []


@dataclass
class ConvertResult:
    source_format: str
    images: int
    instances: int
    classes: int
    warnings: list[str]


def convert(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    to: str,
    src_format: str | None = None,
    images_dir: str | os.PathLike | None = None,
) -> ConvertResult:
    """Load ``src`` (format detected unless ``src_format``) and write it to ``dst`` as ``to``."""
    check_format(to)
    fmt = check_format(src_format) if src_format else detect(src)
    dataset = load(src, fmt)
    warnings = dataset.warnings + save(dataset, dst, to, images_dir)
    return ConvertResult(fmt, len(dataset.images), dataset.num_instances, len(dataset.class_names), warnings)


def load_annotations(
    path: str | os.PathLike, images_dir: str | os.PathLike | None = None, require_images: bool = True
) -> CocoData:
    """Any format as the validated :class:`CocoData` that training, fine-tuning and eval read.

    COCO files go straight to :func:`load_coco` (same checks and messages as before); other formats
    are loaded, turned into a COCO dict and checked by the same validator."""
    path = Path(path)
    if path.suffix.lower() == ".json" and not (path.is_file() and labelme.detect(path)):
        return load_coco(path, images_dir, require_images)
    dataset = load(path)
    checked = parse_coco(coco.to_coco_dict(dataset), path, images_dir, require_images)
    checked.warnings[:0] = dataset.warnings
    return checked
