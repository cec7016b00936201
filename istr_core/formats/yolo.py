"""Ultralytics YOLO segmentation: ``data.yaml`` (``names``), ``images/**``, ``labels/**/*.txt``.

A label line is ``class x0 y0 x1 y1 ...`` with coordinates normalised by the image size. It is read
the way Ultralytics rasterises it (``polygon2mask``: scale, truncate to int, ``cv2.fillPoly``,
even-odd), and written so that this reading gives the mask back: the outline is traced through the
centres of the boundary pixels, holes and separate parts are joined into the one line by thin
bridges (as Ultralytics' ``merge_multi_segment`` joins the parts of a COCO object), and fillPoly's
even-odd rule turns a bridged hole back into a hole. Whatever still differs (a bridge across the
background between parts, a one-pixel sliver) is reported per object as a warning, never dropped
silently. A 5-value line (``class cx cy w h``, a detection box) is read as a filled rectangle.
"""

from __future__ import annotations

import math
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import yaml
from scipy.spatial import cKDTree

from ..data.images import IMAGE_EXTENSIONS
from .dataset import Annotation, AnnotationError, Dataset, ImageEntry, annotation_from_mask, image_size
from .files import image_copies, write_tree


def detect(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() in (".yaml", ".yml")
    return (path / "data.yaml").is_file() or ((path / "labels").is_dir() and (path / "images").is_dir())


def load(path: Path) -> Dataset:
    root, yaml_path = (path.parent, path) if path.is_file() else (path, path / "data.yaml")
    names = _read_names(yaml_path)
    images_dir, labels_dir = root / "images", root / "labels"
    if not images_dir.is_dir():
        raise AnnotationError(f"{root}: no images/ folder (YOLO needs the images: labels are normalised)")
    dataset = Dataset(names, [])
    seen = set()
    for image_path in sorted(p for p in images_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS):
        rel = image_path.relative_to(images_dir).as_posix()
        label_path = labels_dir / PurePosixPath(rel).with_suffix(".txt")
        seen.add(label_path)
        w, h = image_size(image_path)
        entry = ImageEntry(rel, w, h)
        if label_path.is_file():
            entry.instances = _read_labels(label_path, len(names), w, h, dataset.warnings)
        dataset.images.append(entry)
    for orphan in sorted(set(labels_dir.rglob("*.txt")) - seen if labels_dir.is_dir() else []):
        dataset.warnings.append(f"{orphan}: no image for this label file under {images_dir}; skipped")
    return dataset


def _read_names(yaml_path: Path) -> list[str]:
    if not yaml_path.is_file():
        raise AnnotationError(f"{yaml_path}: not found (a YOLO dataset needs data.yaml with 'names')")
    try:
        data = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise AnnotationError(f"{yaml_path}: not valid YAML{where}") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict) and all(isinstance(k, int) for k in names):
        if sorted(names) != list(range(len(names))):
            raise AnnotationError(f"{yaml_path}: 'names' keys must be 0..{len(names) - 1}")
        names = [names[k] for k in range(len(names))]
    if not (isinstance(names, list) and names and all(isinstance(n, (str, int)) for n in names)):
        raise AnnotationError(f"{yaml_path}: 'names' must be a list or a {{index: name}} mapping")
    names = [str(n) for n in names]
    if len(set(names)) < len(names):  # a label line's class is an index: which of the two is meant?
        twice = next(n for n in names if names.count(n) > 1)
        raise AnnotationError(f"{yaml_path}: class {twice!r} is listed twice in 'names'")
    return names


def _read_labels(path: Path, num_classes: int, w: int, h: int, warnings: list[str]) -> list[Annotation]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        warnings.append(f"{path}: not a text (UTF-8) file; its objects skipped")
        return []
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            out.append(_parse_line(line, num_classes, w, h))
        except ValueError as exc:
            warnings.append(f"{path}:{number}: {exc}; object skipped")
    return [i for i in out if i is not None]


def _parse_line(line: str, num_classes: int, w: int, h: int) -> Annotation | None:
    tokens = line.split()
    try:
        cls_f, values = float(tokens[0]), [float(t) for t in tokens[1:]]
    except ValueError:
        raise ValueError("not numbers") from None
    if not (cls_f.is_integer() and 0 <= cls_f < num_classes):
        raise ValueError(f"class {tokens[0]} is not in data.yaml's names (0..{num_classes - 1})")
    if not all(math.isfinite(v) for v in values):
        raise ValueError("coordinates are not finite numbers")
    if len(values) == 4:
        cx, cy, bw, bh = values
        values = [
            cx - bw / 2,
            cy - bh / 2,
            cx + bw / 2,
            cy - bh / 2,
            cx + bw / 2,
            cy + bh / 2,
            cx - bw / 2,
            cy + bh / 2,
        ]
    elif len(values) < 6 or len(values) % 2:
        raise ValueError(f"{len(values)} coordinates: need x y pairs (at least 3) or a box (4)")
    if min(values) < -0.01 or max(values) > 1.01:
        raise ValueError("coordinates outside 0..1 (YOLO coordinates are normalised by the image size)")
    mask = rasterise(np.clip(np.asarray(values).reshape(-1, 2), 0, 1), w, h)
    if not mask.any():
        raise ValueError("polygon covers no pixel")
    return annotation_from_mask(mask, int(cls_f))


def rasterise(points: np.ndarray, w: int, h: int) -> np.ndarray:
    """Ultralytics' ``polygon2mask``: normalised (N, 2) points -> (H, W) bool."""
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [(points * [w, h]).astype(np.int32)], 1)
    return mask.astype(bool)


def save(dataset: Dataset, path: Path, images_dir: Path | None = None) -> list[str]:
    """Write ``path/data.yaml`` and ``path/labels``; with ``images_dir`` also ``path/images``."""
    root = path.parent if path.suffix.lower() in (".yaml", ".yml") else path
    warnings: list[str] = []
    files = {"data.yaml": _data_yaml(dataset.class_names)}
    for im in dataset.images:
        rel = str(PurePosixPath("labels") / PurePosixPath(im.file_name).with_suffix(".txt"))
        if rel in files:
            raise AnnotationError(f"{im.file_name}: two images share the label file {rel}; rename one")
        lines = [_line(inst, im, k, warnings) for k, inst in enumerate(im.instances)]
        files[rel] = "".join(line for line in lines if line).encode("utf-8")
    copies = image_copies(dataset.images, images_dir, prefix="images/")
    if images_dir is None:
        warnings.append(f"{root}: images not copied (pass --images); put them under {root / 'images'}")
    write_tree(root, files, copies)
    return warnings


def _data_yaml(names: list[str]) -> bytes:
    doc = {"train": "images", "val": "images", "nc": len(names), "names": dict(enumerate(names))}
    header = "# Ultralytics YOLO segmentation dataset written by ISTR Studio (path: this file's folder)\n"
    return (header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)).encode("utf-8")


def _line(inst: Annotation, im: ImageEntry, k: int, warnings: list[str]) -> str:
    mask = inst.mask()
    polygon = outline(mask)
    if polygon is None:
        return ""
    norm = np.round(polygon / [im.width, im.height], 6)
    back = rasterise(norm, im.width, im.height)
    if (diff := int((back != mask).sum())) > 0:
        iou = (back & mask).sum() / max(1, (back | mask).sum())
        warnings.append(
            f"{im.file_name} object {k}: the YOLO polygon differs from the mask by {diff} px (IoU {iou:.3f}; "
            "parts joined by a bridge line or pixels too thin for a polygon)"
        )
    return f"{inst.label} " + " ".join(f"{v:.6f}" for v in norm.ravel()) + "\n"


def outline(mask: np.ndarray) -> np.ndarray | None:
    """One polygon (N, 2), pixel coordinates, whose even-odd fill (Ultralytics' reading) is ``mask``:
    every outer and hole contour through boundary-pixel centres, joined by zero-width bridges."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    parts = [c[:, 0, :].astype(np.float64) for c in contours if len(c) > 0]
    if not parts:
        return None
    joined, rest = parts[0], parts[1:]
    while rest:  # attach the part nearest to what is joined so far, at its nearest point
        tree = cKDTree(joined)
        nearest = [tree.query(p) for p in rest]  # (distances, indices into joined) per point of p
        k = int(np.argmin([d.min() for d, _ in nearest]))
        part, (d, idx) = rest.pop(k), nearest[k]
        j = int(np.argmin(d))
        i = int(idx[j])
        joined = np.concatenate([joined[: i + 1], part[j:], part[: j + 1], joined[i:]])
    return joined + 0.5  # pixel centres in the normalised (continuous) frame: truncation gives the pixel back
