"""Seeded mutation fuzzing of every annotation reader (issue 32): seed files written by the project's
own writers from procedural scenes, mutated as files from elsewhere are (truncated, bytes flipped,
lines deleted or doubled, values swapped for other types, 1e309, NaN, -1), then read back.

Every case must end in a load whose result holds the invariants below, or in :class:`AnnotationError`
with one line naming the file; anything else is a failure reported with the seed and the case, so
``replay(reader, seed, case)`` reproduces it. The readers:

* ``coco``, ``cvat``, ``labelme``, ``voc``, ``yolo``: ``formats.load`` with the format given, then
  ``formats.load_annotations`` (format detected: what train / finetune / eval / istr-app read);
* ``project``: the GUI's ``read_coco`` + ``load_coco_into`` of a file the GUI saved;
* ``autosave``: the GUI's ``autosave.recover`` of a sidecar the GUI wrote.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import math
import random
import shutil
import time
import xml.etree.ElementTree as ET
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image
from pycocotools import mask as mask_utils

from istr_core import formats
from istr_core.data.rle import annotation_rle
from istr_core.formats import Dataset, ImageEntry
from istr_core.formats.coco import CocoData
from istr_core.formats.dataset import AnnotationError, annotation_from_mask, annotation_from_polygons
from istr_core.train.synthetic import make_scene

READERS = ("coco", "cvat", "labelme", "voc", "yolo", "project", "autosave")
CLASSES = ["cell", "dust", "never used"]
IMAGES = [("a.png", 40, 56), ("sub dir/b ü.png", 32, 48), ("empty.png", 24, 24)]  # name, height, width


# ---------------------------------------------------------------- seeds: the project's own writers


def scene_dataset(images_dir: Path) -> Dataset:
    """Three small procedural scenes (a polygon object, objects with holes and several parts, one on
    the border, an image without objects, a class never used), images written to ``images_dir``."""
    rng = np.random.default_rng(32)
    entries = []
    for k, (name, h, w) in enumerate(IMAGES):
        image, masks, labels = make_scene(rng, h, w, max_objects=4, min_area=12)
        (images_dir / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(images_dir / name), image)
        entry = ImageEntry(name, w, h)
        if name != "empty.png":
            insts = [annotation_from_mask(m, int(c) % 2) for m, c in zip(masks, labels, strict=True)]
            entry.instances = [i for i in insts if i is not None]
            poly = [2.0, 3.0, 20.0, 2.5, 14.0 + k, 18.0, 3.0, 12.0]
            entry.instances.append(annotation_from_polygons([poly], 0, h, w))
            ring = np.zeros((h, w), bool)
            ring[h // 2 : h // 2 + 9, w - 9 :] = True
            ring[h // 2 + 3 : h // 2 + 6, w - 6 : w - 3] = False  # a hole, touching the right border
            entry.instances.append(annotation_from_mask(ring, 1))
        entries.append(entry)
    entries[0].instances[0].score = 0.75
    entries[1].instances[-1].iscrowd = True
    return Dataset(list(CLASSES), entries)


def write_seed(reader: str, root: Path) -> Path:
    """The seed files of ``reader`` under ``root``; returns the path the reader is given."""
    images = root / "images"
    dataset = scene_dataset(images)
    if reader in ("project", "autosave"):
        return _write_project(reader, root, images, dataset)
    if reader == "coco":
        out = root / "annotations.json"
        formats.save(dataset, out, "coco")
        doc = json.loads(out.read_text(encoding="utf-8"))  # the forms other tools write, too
        polys = [i.polygons for im in dataset.images for i in im.instances]
        for ann, poly in zip(doc["annotations"], polys, strict=True):
            if poly:
                ann["segmentation"] = poly
        ann = next(a for a in doc["annotations"] if isinstance(a["segmentation"], dict))
        h, w = ann["segmentation"]["size"]
        mask = mask_utils.decode({"size": [h, w], "counts": ann["segmentation"]["counts"].encode()})
        flat = mask.ravel(order="F")
        bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
        runs = ([0] if flat[0] else []) + np.diff(bounds).tolist()
        ann["segmentation"] = {"size": [h, w], "counts": runs}  # uncompressed RLE
        out.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        return out
    out = root / reader
    formats.save(dataset, out, reader, images)
    shutil.rmtree(images)  # the copy in the format's own layout is the one read
    if reader == "cvat":  # shapes the writer never writes, as CVAT itself does
        tree = ET.parse(out / "annotations.xml")
        box = {"label": "dust", "occluded": "0", "xtl": "30.5", "ytl": "4", "xbr": "50", "ybr": "15.5"}
        tree.getroot().find("image").append(ET.Element("box", box))
        tree.write(out / "annotations.xml", encoding="utf-8", xml_declaration=True)
    if reader == "labelme":
        doc = json.loads((out / "a.json").read_text(encoding="utf-8"))
        base = {"label": "dust", "group_id": None, "description": "", "flags": {}, "mask": None}
        doc["shapes"] += [
            {**base, "shape_type": "rectangle", "points": [[30.5, 4.0], [50.0, 15.5]]},
            {**base, "shape_type": "circle", "points": [[10.0, 30.0], [14.0, 33.0]]},
        ]
        (out / "a.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return out


def _write_project(reader: str, root: Path, images: Path, dataset: Dataset) -> Path:
    from istr_app.core.autosave import sidecar_path, write_autosave
    from istr_app.core.document import HUMAN, MODEL, PRELABELLED, REVIEWED, Instance, Project
    from istr_app.core.project_io import project_to_coco, save_coco
    from istr_core.data.images import list_images

    project = Project(images, list_images(images, recursive=True), list(CLASSES))
    for rec, entry in zip(project.records, sorted(dataset.images, key=lambda e: e.file_name), strict=True):
        rec.size = (entry.height, entry.width)
        rec.status = REVIEWED if entry.instances else PRELABELLED
        for k, inst in enumerate(entry.instances):
            score = 0.3 + 0.1 * k if k % 2 else None
            rec.instances.append(
                Instance(inst.mask(), inst.label, score, MODEL if score else HUMAN, accepted=k == 1)
            )
    annotations = root / "annotations.json"
    save_coco(annotations, project_to_coco(project, lambda r: True, lambda i: True), images)
    if reader == "project":
        return annotations
    project.records[0].instances.pop()  # unsaved work: the sidecar differs from the saved file
    return write_autosave(project, sidecar_path(images, annotations))


def targets(reader: str, root: Path) -> list[tuple[Path, float]]:
    """The files a case may mutate, with their weights: what the reader reads (images less often)."""
    if reader in ("project", "autosave"):
        path = root / "annotations.json"
        return [(path if reader == "project" else path.with_name(path.name + ".autosave.json"), 1.0)]
    if reader == "coco":
        return [(root / "annotations.json", 1.0)]
    out = []
    for p in sorted((root / reader).rglob("*")):
        if p.is_file():
            image = p.suffix == ".png" and "Segmentation" not in p.parent.name
            if not image or reader in ("yolo", "voc"):  # the others never open their images
                out.append((p, 0.15 if image else 1.0))
    return out


# ---------------------------------------------------------------- mutations


SPECIAL = [
    None, True, False, 0, -1, 1, 2, 7, 2**31, 2**64, 10**7, 0.5, -1e5, 1e12, math.inf, -math.inf, math.nan,
    "", "x", "a\nb", "../../etc/passwd", "/etc/passwd", "٣", [], [0], [[1, 2]], [1, 2, 3, 4, 5, 6, 7], {},
    {"a": 1}, {"size": [1, 1], "counts": "0"},
]  # fmt: skip
TOKENS = [
    "nan", "inf", "-inf", "1e309", "-1e309", "-1", "0", "1", "2", "7", "0.5", "1.5", "-0.5", "abc", "",
    "1e12", "2147483648", "99999999999", "٣", "0x10", "1_0", "+1", "1e-400", ",", ";", ":", "a\tb", "a\nb",
]  # fmt: skip
TAGS = ["polygon", "box", "mask", "polyline", "points", "tag", "image", "label", "name", "meta", "foo"]
ATTRS = ["width", "height", "left", "top", "rle", "points", "label", "name", "group_id", "xtl", "ybr"]


def mutate(path: Path, data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One mutation of ``data`` (the bytes of ``path``) and a short description of it."""
    kind = {".json": "json", ".xml": "xml", ".yaml": "yaml", ".png": "png", ".jpg": "png"}.get(
        path.suffix, "txt"
    )
    if rng.random() < 0.3 or not data:
        return _bytes(data, rng)
    try:
        return {"json": _json, "xml": _xml, "yaml": _yaml, "png": _png, "txt": _txt}[kind](data, rng)
    except (ValueError, SyntaxError, yaml.YAMLError, ET.ParseError, OSError):
        return _bytes(data, rng)  # an earlier mutation left it unparseable


def _bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    op = rng.choice(["truncate", "flip", "delete line", "double line", "swap lines", "splice", "empty"])
    b = bytearray(data)
    lines = data.split(b"\n")
    if op == "truncate":
        n = rng.randrange(len(b) + 1)
        return bytes(b[:n]), f"truncated to {n} bytes"
    if op == "flip" and b:
        spots = [rng.randrange(len(b)) for _ in range(rng.randint(1, 4))]
        for s in spots:
            b[s] = rng.randrange(256)
        return bytes(b), f"bytes changed at {spots}"
    if op in ("delete line", "double line", "swap lines") and len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        if op == "delete line":
            del lines[i]
        elif op == "double line":
            lines.insert(i, lines[i])
        else:
            lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines), f"{op} {i} {j}"
    if op == "splice" and b:
        i, j, at = rng.randrange(len(b)), rng.randrange(len(b)), rng.randrange(len(b))
        i, j = min(i, j), max(i, j)
        return bytes(b[:at] + b[i:j] + b[at:]), f"bytes {i}:{j} copied to {at}"
    return b"", "emptied"


def _nodes(doc, depth: int = 0, out=None) -> list[tuple[object, object, int]]:
    """(container, key, depth) for every value under ``doc``."""
    out = [] if out is None else out
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for k, v in items:
        out.append((doc, k, depth))
        _nodes(v, depth + 1, out)
    return out


def _pick(nodes: list, rng: random.Random):
    if rng.random() < 0.5:  # uniform over depths, so top-level keys are not drowned by RLE counts
        depth = rng.choice(sorted({d for _, _, d in nodes}))
        nodes = [n for n in nodes if n[2] == depth]
    return rng.choice(nodes)


def _tree(doc, rng: random.Random) -> tuple[object, str]:
    """Mutate a parsed JSON / YAML document in place (or replace it); returns it and what was done."""
    nodes = _nodes(doc)
    if not nodes or rng.random() < 0.03:
        return copy.deepcopy(rng.choice(SPECIAL)), "top level replaced"
    parent, key, _ = _pick(nodes, rng)
    value = parent[key]
    op = rng.choice(["special", "special", "special", "number", "delete", "double", "swap", "png"])
    if op == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        parent[key] = rng.choice([value + 1, value - 1, -value, value * 10, value * 1000, value / 3])
        how = f"{value!r} -> {parent[key]!r}"
    elif op == "delete":
        del parent[key]
        how = "deleted"
    elif op == "double" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(value))
        how = "doubled"
    elif op == "double" and isinstance(value, list) and value:
        value.append(copy.deepcopy(rng.choice(value)))
        how = "an element doubled"
    elif op == "swap":
        other_parent, other_key, _ = rng.choice(nodes)
        parent[key] = copy.deepcopy(other_parent[other_key])
        how = f"-> the value at [{other_key!r}] {_short(parent[key])}"
    elif op == "png" and isinstance(value, str) and len(value) > 40:  # a base64 PNG (labelme mask)
        try:
            png, how = _png_bytes(base64.b64decode(value), rng)
        except ValueError:
            png, how = _bytes(value.encode(), rng)
        parent[key] = base64.b64encode(png).decode("ascii")
        how = f"base64 image: {how}"
    else:
        parent[key] = copy.deepcopy(rng.choice(SPECIAL))
        how = f"-> {_short(parent[key])}"
    return doc, f"[{key!r}] {how}"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def _json(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    doc, how = _tree(json.loads(data.decode("utf-8")), rng)
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.5:
        text = text.replace("-Infinity", "-1e309").replace("Infinity", "1e309")
    return text.encode("utf-8"), "json " + how


def _yaml(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    doc, how = _tree(yaml.safe_load(data.decode("utf-8")), rng)
    return yaml.safe_dump(doc, allow_unicode=True).encode("utf-8"), "yaml " + how


def _xml(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    root = ET.fromstring(data)
    parents = {child: parent for parent in root.iter() for child in parent}
    el = rng.choice(list(root.iter()))
    op = rng.choice(["attr", "attr", "attr", "number", "del attr", "remove", "double", "tag", "text"])
    if op == "number" and el.attrib:
        name = rng.choice(sorted(el.attrib))
        parts = el.attrib[name].replace(";", ",").split(",")
        k = rng.randrange(len(parts))
        old = el.attrib[name]
        starts = [i for i, _ in enumerate(old) if i == 0 or old[i - 1] in ",;"]
        tok = rng.choice(TOKENS)
        end = old.find(",", starts[k]) if "," in old[starts[k] :] else len(old)
        semi = old.find(";", starts[k])
        end = min(end, semi) if semi >= 0 else end
        el.set(name, old[: starts[k]] + tok + old[end:])
        how = f"<{el.tag}> {name} value {k} -> {tok!r}"
    elif op == "del attr" and el.attrib:
        name = rng.choice(sorted(el.attrib))
        del el.attrib[name]
        how = f"<{el.tag}> {name} deleted"
    elif op == "remove" and el in parents:
        parents[el].remove(el)
        how = f"<{el.tag}> removed"
    elif op == "double" and el in parents:
        parent = parents[el]
        parent.insert(list(parent).index(el), copy.deepcopy(el))
        how = f"<{el.tag}> doubled"
    elif op == "tag":
        el.tag = rng.choice(TAGS)
        how = f"tag -> <{el.tag}>"
    elif op == "text":
        el.text = rng.choice(TOKENS + ["cell", "dust", "never used"])
        how = f"<{el.tag}> text -> {el.text!r}"
    else:
        name = rng.choice(sorted(el.attrib) or ATTRS) if rng.random() < 0.8 else rng.choice(ATTRS)
        el.set(name, rng.choice(TOKENS))
        how = f"<{el.tag}> {name} -> {el.get(name)!r}"
    return ET.tostring(root, encoding="utf-8", xml_declaration=True), "xml " + how


def _txt(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    lines = data.decode("utf-8").split("\n")
    i = rng.randrange(len(lines))
    tokens = lines[i].split(" ") if " " in lines[i] else lines[i].split(":")
    sep = " " if " " in lines[i] else ":"
    op = rng.choice(["token", "token", "token", "drop token", "double token", "add line"])
    k = rng.randrange(len(tokens))
    if op == "token":
        tokens[k] = rng.choice(TOKENS)
    elif op == "drop token":
        del tokens[k]
    elif op == "double token":
        tokens.insert(k, tokens[k])
    else:
        lines.insert(i, " ".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 9))))
        return "\n".join(lines).encode("utf-8"), f"txt line {i} inserted: {lines[i]!r}"
    lines[i] = sep.join(tokens)
    return "\n".join(lines).encode("utf-8"), f"txt line {i} {op} {k} -> {lines[i][:60]!r}"


def _png(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out, how = _png_bytes(data, rng)
    return out, "png " + how


def _png_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A changed image: pixels, mode, size or format changed, or its bytes broken."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # noqa: BLE001 - an earlier mutation broke it: break it further
        raise ValueError("not an image") from exc
    op = rng.choice(["pixels", "mode", "size", "jpeg", "broken"])
    if op == "pixels":
        a = np.array(image)
        y, x = rng.randrange(a.shape[0]), rng.randrange(a.shape[1])
        a[y : y + rng.randint(1, 9), x : x + rng.randint(1, 9)] = rng.randrange(256)
        new = Image.fromarray(a, mode=image.mode) if a.ndim == 2 else Image.fromarray(a)
        if image.mode == "P":
            new.putpalette(image.getpalette())
        image, how = new, f"pixels at {x},{y} changed"
    elif op == "mode":
        mode = rng.choice(["L", "RGB", "RGBA", "1", "I;16", "I", "F"])
        image, how = (
            image.convert(mode) if mode != "I;16" else image.convert("I").convert("I;16"),
            f"mode {mode}",
        )
    elif op == "size":
        w, h = image.size
        size = rng.choice([(w + 1, h), (w, h - 1), (h, w), (1, 1), (w * 2, h * 2)])
        image, how = image.resize(size), f"resized to {size}"
    buf = io.BytesIO()
    if op == "jpeg":
        image.convert("RGB").save(buf, format="JPEG")
        return buf.getvalue(), "written as JPEG"
    fmt = "TIFF" if image.mode == "F" else "PNG"
    image.save(buf, format=fmt)
    if op == "broken":
        return _bytes(buf.getvalue(), rng)
    return buf.getvalue(), how


# ---------------------------------------------------------------- reading and the invariants


@dataclass
class Outcome:
    kind: str  # "load", "warnings" (a load with warnings) or "error" (AnnotationError)
    detail: str


def read(reader: str, path: Path, root: Path) -> Outcome:
    """Run ``reader`` on ``path``; an invariant broken or an exception other than AnnotationError
    propagates (an AssertionError for invariants)."""
    try:
        warnings = _READ[reader](path, root)
    except AnnotationError as exc:
        message = str(exc)
        assert "\n" not in message, f"error message of several lines: {message!r}"
        assert str(root) in message, f"error message names no file: {message!r}"
        return Outcome("error", message)
    for w in warnings:
        assert isinstance(w, str) and "\n" not in w, f"warning of several lines: {w!r}"
        assert str(root) in w, f"warning names no file: {w!r}"
    return Outcome("warnings" if warnings else "load", warnings[0] if warnings else "")


def _read_format(reader: str):
    def run(path: Path, root: Path) -> list[str]:
        dataset = formats.load(path, reader)
        check_dataset(dataset)
        checked = formats.load_annotations(path, require_images=False)
        check_coco(checked)
        if reader != "coco":  # what the loaded dataset becomes must pass the validator unchanged
            assert checked.num_annotations == dataset.num_instances, "validator dropped loaded objects"
            assert checked.warnings == dataset.warnings
        return dataset.warnings

    return run


def _read_project(path: Path, root: Path) -> list[str]:
    from istr_app.core.document import Project
    from istr_app.core.project_io import load_coco_into, read_coco
    from istr_core.data.images import list_images

    images = root / "images"
    project = Project(images, list_images(images, recursive=True))
    data, warnings = read_coco(path)
    warnings += load_coco_into(project, data)
    check_project(project)
    return warnings


def _read_autosave(path: Path, root: Path) -> list[str]:
    from istr_app.core.autosave import recover
    from istr_app.core.document import Project
    from istr_app.core.project_io import load_coco_into, read_coco
    from istr_core.data.images import list_images

    images = root / "images"
    project = Project(images, list_images(images, recursive=True))
    load_coco_into(project, read_coco(root / "annotations.json")[0])  # the saved file, intact
    warnings = recover(project, path)
    check_project(project)
    return warnings


_READ = {name: _read_format(name) for name in formats.FORMATS} | {
    "project": _read_project,
    "autosave": _read_autosave,
}


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_dataset(dataset: Dataset) -> None:
    """What a loaded dataset promises: known unique classes, sane images, finite polygons of at least
    3 points, non-empty masks of their image's size, finite scores."""
    names = dataset.class_names
    assert all(isinstance(n, str) for n in names) and len(set(names)) == len(names), names
    for im in dataset.images:
        assert isinstance(im.file_name, str) and im.file_name, im.file_name
        assert isinstance(im.width, int) and isinstance(im.height, int) and im.width > 0 and im.height > 0
        for inst in im.instances:
            assert isinstance(inst.label, int) and 0 <= inst.label < len(names), (im.file_name, inst.label)
            assert list(inst.rle["size"]) == [im.height, im.width], (im.file_name, inst.rle["size"])
            assert isinstance(inst.rle["counts"], str)
            assert inst.area > 0, im.file_name
            assert inst.mask().shape == (im.height, im.width)
            assert inst.score is None or _finite(inst.score), inst.score
            for poly in inst.polygons or []:
                assert len(poly) >= 6 and len(poly) % 2 == 0 and all(map(_finite, poly)), poly


def check_coco(coco: CocoData) -> None:
    index = coco.class_index()
    names = coco.class_names
    assert len(set(names)) == len(names), names
    for im in coco.images:
        assert im.width > 0 and im.height > 0
        for a in im.annotations:
            assert a["category_id"] in index
            rle = annotation_rle(a, im.height, im.width)
            assert list(rle["size"]) == [im.height, im.width] and mask_utils.area(rle) > 0
            assert a.get("score") is None or _finite(a["score"]), a["score"]
            seg = a["segmentation"]
            for poly in seg if isinstance(seg, list) else []:
                assert len(poly) >= 6 and len(poly) % 2 == 0 and all(map(_finite, poly)), poly


def check_project(project) -> None:
    from istr_app.core.document import HUMAN, MODEL, STATUSES

    names = project.class_names
    assert len(set(names)) == len(names), names
    for rec in project.records:
        assert rec.status in STATUSES, rec.status
        for inst in rec.instances:
            assert inst.mask.dtype == bool and inst.mask.ndim == 2 and inst.mask.any(), rec.key
            assert rec.size is not None and inst.mask.shape == tuple(rec.size), (rec.key, rec.size)
            assert isinstance(inst.label, int) and 0 <= inst.label < len(names), inst.label
            assert inst.score is None or _finite(inst.score), inst.score
            assert inst.source in (MODEL, HUMAN) and isinstance(inst.accepted, bool)


# ---------------------------------------------------------------- running cases


class Seeds:
    """The seed files of every reader, written once into ``folder``."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.paths: dict[str, Path] = {}

    def get(self, reader: str) -> tuple[Path, Path]:
        """(path given to the reader, root folder of its files)."""
        if reader not in self.paths:
            root = self.folder / reader
            root.mkdir(parents=True)
            self.paths[reader] = write_seed(reader, root)
        return self.paths[reader], self.folder / reader


def case_rng(seed: int, reader: str, case: int) -> random.Random:
    return random.Random(f"{seed}:{reader}:{case}")


@contextmanager
def mutated(seeds: Seeds, reader: str, seed: int, case: int):
    """Mutate one or two of the seed files of ``reader`` 1-3 times; yields (path given to the reader,
    root folder, what was done) and puts the seed files back afterwards."""
    path, root = seeds.get(reader)
    rng = case_rng(seed, reader, case)
    files = targets(reader, root)
    originals: dict[Path, bytes] = {}
    steps = []
    try:
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            (target,) = rng.choices([f for f, _ in files], weights=[w for _, w in files])
            originals.setdefault(target, target.read_bytes())
            data, how = mutate(target, target.read_bytes(), rng)
            target.write_bytes(data)
            steps.append(f"{target.relative_to(root)}: {how}")
        yield path, root, steps
    finally:
        for target, data in originals.items():
            target.write_bytes(data)


def run_case(seeds: Seeds, reader: str, seed: int, case: int) -> tuple[Outcome, str, float]:
    """One case: (outcome, what was done, seconds the read took)."""
    with mutated(seeds, reader, seed, case) as (path, root, steps):
        start = time.perf_counter()
        try:
            outcome = read(reader, path, root)
        except Exception as exc:
            raise FuzzFailure(reader, seed, case, steps, exc) from exc
        return outcome, "; ".join(steps), time.perf_counter() - start


class FuzzFailure(AssertionError):
    def __init__(self, reader: str, seed: int, case: int, steps: list[str], exc: BaseException):
        super().__init__(
            f"{reader} seed {seed} case {case}: {type(exc).__name__}: {exc}\n  mutations: {steps}\n"
            f"  replay: python -c 'from tests.robustness.fuzzing import replay; "
            f'replay("{reader}", {seed}, {case})\''
        )


def run_cases(folder: Path, reader: str, seed: int, count: int, slow_s: float = 10.0) -> Counter:
    """``count`` cases of ``reader``; the outcome counts (load / warnings / error / slow cases)."""
    seeds = Seeds(folder)
    counts: Counter = Counter()
    for case in range(count):
        outcome, how, seconds = run_case(seeds, reader, seed, case)
        counts[outcome.kind] += 1
        assert seconds < slow_s, f"{reader} seed {seed} case {case} took {seconds:.1f} s: {how}"
    return counts


def replay(reader: str, seed: int, case: int) -> None:
    """Rerun one case and print what it did and how it ended (raises what the test raised)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        outcome, how, seconds = run_case(Seeds(Path(tmp)), reader, seed, case)
        print(f"{how}\n-> {outcome.kind} ({seconds:.2f} s): {outcome.detail}")
