"""CVAT for images 1.1 XML (``annotations.xml``): ``<polygon>``, ``<box>`` and ``<mask>`` shapes.

``<mask rle="..." left top width height>``: run lengths over the box, row by row, starting with a
run of background (CVAT's own exporter and datumaro's reader). ``group_id`` joins shapes of one
object. Polygon points are COCO coordinates (CVAT's COCO export passes them through). Written: objects
read as polygons stay ``<polygon>`` (one per part, joined by ``group_id``), others become ``<mask>``
(exact). Polylines, points, cuboids and tags have no area and are skipped with a warning.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..data.atomic import write_atomic
from .dataset import (
    Annotation,
    AnnotationError,
    Dataset,
    ImageEntry,
    annotation_from_mask,
    annotation_from_polygons,
    check_image_size,
    check_points,
    merge_annotations,
    one_line,
    ordered_classes,
    safe_relative,
)
from .files import image_copies, write_tree

FILE = "annotations.xml"


def detect(path: Path) -> bool:
    if path.is_dir():
        path = path / FILE
    return path.is_file() and path.suffix.lower() == ".xml" and b"<annotations" in path.read_bytes()[:4096]


def load(path: Path) -> Dataset:
    path = path / FILE if path.is_dir() else path
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        line, col = exc.position
        raise AnnotationError(f"{path}: not valid XML (line {line}, column {col})") from None
    except (LookupError, ValueError) as exc:  # e.g. <?xml encoding="utm-8"?>: an unknown encoding
        raise AnnotationError(f"{path}: not valid XML ({exc})") from None
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if root.tag != "annotations":
        raise AnnotationError(f"{path}: top element is <{root.tag}>, not <annotations> (CVAT for images 1.1)")
    declared = [e.text or "" for e in root.findall("./meta//labels/label/name")]
    used = [s.get("label", "") for s in root.iterfind("./image/*")]
    dataset = Dataset([], [])
    dataset.class_names = ordered_classes(
        declared, [u for u in used if u], dataset.warnings, f"{path}: <labels>"
    )
    for i, el in enumerate(root.findall("./image")):
        dataset.images.append(_image(el, f"{path}: <image> {i}", dataset))
    return dataset


def _image(el: ET.Element, where: str, dataset: Dataset) -> ImageEntry:
    try:
        w, h = int(el.get("width", "")), int(el.get("height", ""))
    except ValueError:
        raise AnnotationError(f"{where}: 'width' and 'height' must be integers") from None
    check_image_size(w, h, where)
    entry = ImageEntry(safe_relative(el.get("name", ""), where), w, h)
    groups: dict[tuple, list[Annotation]] = {}
    for k, shape in enumerate(el):
        loc = f"{where} ({one_line(entry.file_name)}): <{shape.tag}> {k}"
        try:
            inst = _shape(shape, dataset.class_names, entry, loc)
        except AnnotationError as exc:
            dataset.warnings.append(f"{exc}; shape skipped")
            continue
        if inst is None:
            continue
        gid = shape.get("group_id")
        key = (inst.label, gid) if gid not in (None, "", "0") else (k,)
        groups.setdefault(key, []).append(inst)
    entry.instances = [merge_annotations(parts) for parts in groups.values()]
    return entry


def _shape(el: ET.Element, names: list[str], im: ImageEntry, where: str) -> Annotation | None:
    if el.tag not in ("polygon", "box", "mask"):
        raise AnnotationError(f"{where}: <{el.tag}> has no area (polygon, box and mask are read)")
    if el.get("label") not in names:
        raise AnnotationError(f"{where}: no 'label'")
    label = names.index(el.get("label"))
    try:
        if el.tag == "polygon":
            pts = [float(v) for pair in el.get("points", "").split(";") for v in pair.split(",")]
            polys = [check_points(pts, where, im.width, im.height)]
            if len(pts) < 6 or len(pts) % 2:
                raise AnnotationError(f"{where}: polygon with fewer than 3 points")
        elif el.tag == "box":
            corners = [float(el.get(k, "")) for k in ("xtl", "ytl", "xbr", "ybr")]
            x0, y0, x1, y1 = check_points(corners, where, im.width, im.height)
            polys = [[x0, y0, x1, y0, x1, y1, x0, y1]]
        else:
            return annotation_from_mask(_mask(el, im, where), label)
    except AnnotationError:
        raise
    except ValueError:
        raise AnnotationError(f"{where}: coordinates are not numbers") from None
    inst = annotation_from_polygons(polys, label, im.height, im.width)
    if inst is None:
        raise AnnotationError(f"{where}: covers no pixel of the {im.width}x{im.height} image")
    return inst


def _mask(el: ET.Element, im: ImageEntry, where: str) -> np.ndarray:
    try:
        runs = [int(v) for v in el.get("rle", "").split(",")]
        left, top, w, h = (_integer(el.get(k, "")) for k in ("left", "top", "width", "height"))
    except ValueError:
        raise AnnotationError(f"{where}: 'rle', 'left', 'top', 'width', 'height' must be integers") from None
    if w <= 0 or h <= 0 or left < 0 or top < 0 or left + w > im.width or top + h > im.height:
        raise AnnotationError(
            f"{where}: mask box {left},{top} {w}x{h} leaves the {im.width}x{im.height} image"
        )
    if any(r < 0 for r in runs) or sum(runs) != w * h:
        raise AnnotationError(f"{where}: 'rle' runs add up to {sum(runs)}, not {w}x{h}")
    values = np.arange(len(runs)) % 2
    crop = np.repeat(values.astype(bool), runs).reshape(h, w)
    mask = np.zeros((im.height, im.width), bool)
    mask[top : top + h, left : left + w] = crop
    return mask


def _integer(text: str) -> int:
    """An integer attribute, also as CVAT writes some ("12.0"); ValueError for 12.5, inf, nan."""
    value = float(text)
    if not (math.isfinite(value) and value.is_integer()):
        raise ValueError(text)
    return int(value)


def encode_rle(crop: np.ndarray) -> list[int]:
    """Row-major run lengths of a bool box, first run background (0 when it starts with the object)."""
    flat = crop.ravel().astype(np.int8)
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate(([0], edges, [flat.size]))).tolist()
    return [0, *runs] if flat[0] else runs


def save(dataset: Dataset, path: Path, images_dir: Path | None = None) -> list[str]:
    """``path`` ending in .xml: that file; else a folder with annotations.xml (and images/ with --images)."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    labels = ET.SubElement(ET.SubElement(ET.SubElement(root, "meta"), "task"), "labels")
    for name in dataset.class_names:
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = name
        ET.SubElement(label, "type").text = "any"
        ET.SubElement(label, "attributes")
    for i, im in enumerate(dataset.images):
        attrs = {"id": str(i), "name": im.file_name, "width": str(im.width), "height": str(im.height)}
        image = ET.SubElement(root, "image", attrs)
        for z, inst in enumerate(im.instances):
            _write_instance(image, inst, dataset.class_names[inst.label], z)
    ET.indent(root)
    data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    warnings = []
    if any(inst.score is not None for im in dataset.images for inst in im.instances):
        warnings.append("CVAT XML has no score field: scores not written")
    if path.suffix.lower() == ".xml":
        write_atomic(path, lambda f: f.write(data), binary=True)
        return warnings
    write_tree(path, {FILE: data}, image_copies(dataset.images, images_dir, "images/"))
    return warnings


def _write_instance(image: ET.Element, inst: Annotation, label: str, z: int) -> None:
    common = {"label": label, "source": "manual", "occluded": "0", "z_order": str(z)}
    if inst.polygons:
        group = {"group_id": str(z + 1)} if len(inst.polygons) > 1 else {}
        for poly in inst.polygons:
            pts = ";".join(f"{_num(x)},{_num(y)}" for x, y in zip(poly[0::2], poly[1::2], strict=True))
            ET.SubElement(image, "polygon", {**common, "points": pts, **group})
        return
    x, y, w, h = (int(v) for v in inst.bbox())
    runs = encode_rle(inst.mask()[y : y + h, x : x + w])
    attrs = {
        "rle": ", ".join(map(str, runs)),
        "left": str(x),
        "top": str(y),
        "width": str(w),
        "height": str(h),
    }
    ET.SubElement(image, "mask", {**common, **attrs})


def _num(v: float) -> str:
    return f"{v:.4f}".rstrip("0").rstrip(".")
