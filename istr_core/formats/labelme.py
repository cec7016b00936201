"""labelme JSON: one file beside each image (labelme >= 5.5).

Read: ``polygon``, ``rectangle``, ``circle`` and ``mask`` shapes (``mask``: ``points`` are the two
inclusive corners of the box, ``mask`` a base64 PNG of that box), rasterised exactly as labelme's
own ``shapes_to_label`` does (Pillow, outline included); shapes with the same ``label`` and
``group_id`` are one object. Written: an object whose outline labelme redraws exactly becomes
polygons (traced through the boundary pixels' centres, one per part, joined by ``group_id``); an
object with holes or one-pixel slivers becomes one ``mask`` shape. Either way labelme reads back the
same pixels. labelme has no class list: ``labels.txt`` in the root folder (one name per line,
labelme's ``--labels`` file) keeps the classes and their order.
"""

from __future__ import annotations

import base64
import io
import json
import posixpath
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .dataset import (
    Annotation,
    AnnotationError,
    Dataset,
    ImageEntry,
    annotation_from_mask,
    check_image_size,
    check_points,
    merge_annotations,
    one_line,
    ordered_classes,
    safe_relative,
)
from .files import image_copies, write_tree

LABELS_FILE = "labels.txt"
VERSION = "5.5.0"


def detect(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".json" and '"shapes"' in path.read_bytes()[:65536].decode(
            "utf-8", "replace"
        )
    return any(detect(p) for p in sorted(path.rglob("*.json"))[:20])


def load(path: Path) -> Dataset:
    root = path.parent if path.is_file() else path
    files = (
        [path] if path.is_file() else sorted(p for p in root.rglob("*.json") if not p.name.startswith("."))
    )
    declared = _read_labels(root / LABELS_FILE)
    per_file, used, warnings = [], [], []
    for f in files:
        raw = _read_json(f)
        if raw is None:  # another JSON in the folder (e.g. a COCO file): not ours
            continue
        entry, shapes = _image_entry(f, raw, root)
        per_file.append((f, entry, shapes))
        used += [s["label"] for s in shapes]
    names = ordered_classes(declared, used, warnings, str(root / LABELS_FILE))
    dataset = Dataset(names, [], warnings)
    for f, entry, shapes in per_file:
        entry.instances = _objects(f, shapes, names, entry, warnings)
        dataset.images.append(entry)
    if not dataset.images:
        raise AnnotationError(f"{path}: no labelme JSON files found")
    return dataset


def _read_labels(path: Path) -> list[str]:
    if not path.is_file():
        return []
    try:
        names = [n.strip() for n in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError:
        raise AnnotationError(f"{path}: not a text (UTF-8) file") from None
    return [n for n in names if n and n not in ("__ignore__", "_background_")]


def _read_json(path: Path) -> dict | None:
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise AnnotationError(f"{path}: not valid JSON{where}") from None
    return raw if isinstance(raw, dict) and "shapes" in raw else None


def _image_entry(path: Path, raw: dict, root: Path) -> tuple[ImageEntry, list[dict]]:
    for key, kind in (("imagePath", str), ("imageHeight", int), ("imageWidth", int), ("shapes", list)):
        if not isinstance(raw.get(key), kind) or isinstance(raw.get(key), bool):
            raise AnnotationError(f"{path}: '{key}' missing or of the wrong type")
    h, w = raw["imageHeight"], raw["imageWidth"]
    if h <= 0 or w <= 0:
        raise AnnotationError(f"{path}: imageWidth and imageHeight must be positive, got {w}x{h}")
    check_image_size(w, h, str(path))
    folder = path.parent.relative_to(root).as_posix()  # imagePath is relative to the JSON's folder
    image_path = raw["imagePath"].replace("\\", "/")
    name = safe_relative(posixpath.normpath(posixpath.join(folder, image_path)), str(path))
    shapes = []
    for i, s in enumerate(raw["shapes"]):
        if not (
            isinstance(s, dict) and isinstance(s.get("label"), str) and isinstance(s.get("points"), list)
        ):
            raise AnnotationError(f"{path}: shapes[{i}]: needs a 'label' string and a 'points' list")
        shapes.append({**s, "_index": i})
    return ImageEntry(name, w, h), shapes


def _objects(path: Path, shapes: list[dict], names: list[str], im: ImageEntry, warnings: list[str]):
    groups: dict[tuple, list[Annotation]] = {}
    for s in shapes:
        where = f"{path}: shapes[{s['_index']}] ({one_line(s.get('shape_type', 'polygon'))} {s['label']!r})"
        try:
            inst = _shape(s, names.index(s["label"]), im, where)
        except AnnotationError as exc:
            warnings.append(f"{exc}; shape skipped")
            continue
        if inst is None:
            warnings.append(f"{where}: covers no pixel of the {im.width}x{im.height} image; shape skipped")
            continue
        gid = s.get("group_id")
        key = (s["label"], gid) if isinstance(gid, int) else ("", s["_index"], None)
        groups.setdefault(key, []).append(inst)
    return [merge_annotations(parts) for parts in groups.values()]


def _shape(s: dict, label: int, im: ImageEntry, where: str) -> Annotation | None:
    kind = s.get("shape_type") or "polygon"
    pts = s["points"]
    if not all(isinstance(p, list) and len(p) == 2 for p in pts):
        raise AnnotationError(f"{where}: points must be [x, y] pairs")
    flat = check_points([v for p in pts for v in p], where, im.width, im.height)
    if kind == "polygon" and len(pts) < 3:
        raise AnnotationError(f"{where}: polygon with fewer than 3 points")
    if kind in ("rectangle", "circle", "mask") and len(pts) != 2:
        raise AnnotationError(f"{where}: {kind} needs exactly 2 points")
    if kind in ("polygon", "rectangle", "circle"):
        return annotation_from_mask(draw_shape(kind, np.reshape(flat, (-1, 2)), im.width, im.height), label)
    if kind == "mask":
        return annotation_from_mask(_mask_shape(s, flat, im, where), label)
    raise AnnotationError(f"{where}: shape type {kind!r} has no area (only polygon, rectangle, circle, mask)")


def draw_shape(kind: str, points: np.ndarray, width: int, height: int) -> np.ndarray:
    """labelme's ``shape_to_mask`` for areas: Pillow draws the shape filled, outline included."""
    image = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(image)
    xy = [tuple(p) for p in points.tolist()]
    if kind == "circle":
        (cx, cy), (px, py) = xy
        r = float(np.hypot(cx - px, cy - py))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=1, fill=1)
    elif kind == "rectangle":
        draw.rectangle(
            [min(xy)[0], min(p[1] for p in xy), max(xy)[0], max(p[1] for p in xy)], outline=1, fill=1
        )
    else:
        draw.polygon(xy, outline=1, fill=1)
    return np.asarray(image, dtype=bool)


def _mask_shape(s: dict, flat: list[float], im: ImageEntry, where: str) -> np.ndarray:
    x0, y0 = int(flat[0]), int(flat[1])
    box = (int(flat[2]) - x0 + 1, int(flat[3]) - y0 + 1)
    if not isinstance(s.get("mask") or "", str):
        raise AnnotationError(f"{where}: 'mask' is not a base64 PNG")
    try:
        with Image.open(io.BytesIO(base64.b64decode(s.get("mask") or "", validate=True))) as png:
            crop = np.asarray(png) > 0 if png.size == box else None  # the size first: never decode a bomb
    except Exception:  # bad base64 (binascii.Error); corrupt PNGs: Pillow raises SyntaxError, zlib.error, ...
        raise AnnotationError(f"{where}: 'mask' is not a base64 PNG") from None
    if crop is None or crop.ndim != 2:
        raise AnnotationError(f"{where}: the mask PNG is not the size of its box {flat}")
    if x0 < 0 or y0 < 0 or x0 + crop.shape[1] > im.width or y0 + crop.shape[0] > im.height:
        raise AnnotationError(f"{where}: the mask box {flat} leaves the {im.width}x{im.height} image")
    mask = np.zeros((im.height, im.width), bool)
    mask[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    return mask


def save(dataset: Dataset, path: Path, images_dir: Path | None = None) -> list[str]:
    """One JSON beside each image under ``path`` (images copied there with ``images_dir``)."""
    files = {LABELS_FILE: "".join(f"{n}\n" for n in dataset.class_names).encode("utf-8")}
    warnings = []
    for im in dataset.images:
        rel = str(PurePosixPath(im.file_name).with_suffix(".json"))
        if rel in files:
            raise AnnotationError(f"{im.file_name}: two images share the labelme file {rel}; rename one")
        shapes = []
        for inst in im.instances:
            shapes += _shapes(inst, dataset.class_names[inst.label], len(shapes), im)
        doc = {
            "version": VERSION,
            "flags": {},
            "shapes": shapes,
            "imagePath": PurePosixPath(im.file_name).name,
            "imageData": None,
            "imageHeight": im.height,
            "imageWidth": im.width,
        }
        files[rel] = json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")
    if any(inst.score is not None for im in dataset.images for inst in im.instances):
        warnings.append("labelme has no score field: scores not written")
    write_tree(path, files, image_copies(dataset.images, images_dir))
    return warnings


def _shapes(inst: Annotation, label: str, group: int, im: ImageEntry) -> list[dict]:
    base = {"label": label, "description": "", "flags": {}, "mask": None}
    mask = inst.mask()
    polygons = _polygons(mask, im)
    if polygons is not None:
        gid = group if len(polygons) > 1 else None
        return [{**base, "points": p, "group_id": gid, "shape_type": "polygon"} for p in polygons]
    x, y, w, h = (int(v) for v in inst.bbox())
    buf = io.BytesIO()
    Image.fromarray(mask[y : y + h, x : x + w].astype(np.uint8)).save(buf, format="PNG")
    points = [[float(x), float(y)], [float(x + w - 1), float(y + h - 1)]]
    mask_b64 = base64.b64encode(buf.getvalue()).decode("ascii")
    return [{**base, "points": points, "group_id": None, "shape_type": "mask", "mask": mask_b64}]


def _polygons(mask: np.ndarray, im: ImageEntry) -> list[list[list[float]]] | None:
    """One outline per part when labelme redraws exactly ``mask`` from them, else None."""
    contours, hierarchy = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None or (hierarchy[0][:, 3] >= 0).any() or any(len(c) < 3 for c in contours):
        return None  # holes, or a part too thin for a polygon
    polys = [c[:, 0, :].astype(float) for c in contours]
    redrawn = np.zeros_like(mask)
    for p in polys:
        redrawn |= draw_shape("polygon", p, im.width, im.height)
    return [p.tolist() for p in polys] if np.array_equal(redrawn, mask) else None
