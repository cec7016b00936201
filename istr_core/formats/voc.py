"""Pascal VOC-style instance PNGs, as CVAT's and datumaro's "Segmentation mask" exports lay them out.

* ``SegmentationObject/<name>.png``: palette PNG, pixel = instance number (1..254), 0 background,
  255 void (VOC's border; read as "no object").
* ``SegmentationClass/<name>.png``: palette PNG, pixel = class index (0 background), VOC colour map.
* ``labelmap.txt``: the class list, datumaro's ``name:r,g,b::`` lines, ``background`` first (index 0);
  CVAT and datumaro read and write this file. A plain ``labels.txt`` (one name per line, background
  first) is read too.
* ``JPEGImages/<name>.<ext>``: the images; ``ImageSets/Segmentation/default.txt``: the image names.

One pixel belongs to one instance: where objects overlap, the smaller object keeps the pixels (objects
are painted largest first, so a small object is never swallowed by a large one; a warning names each
object that loses pixels). Masks are otherwise exact. 254 objects per image
at most (8-bit PNG). An object's class is the class its pixels carry in ``SegmentationClass``.
"""

from __future__ import annotations

import io
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from ..data.images import IMAGE_EXTENSIONS
from .dataset import AnnotationError, Dataset, ImageEntry, annotation_from_mask, image_size, safe_relative
from .files import image_copies, write_tree

VOID = 255
LABELMAP = "labelmap.txt"


def detect(path: Path) -> bool:
    return path.is_dir() and (path / "SegmentationObject").is_dir()


def voc_colormap(n: int = 256) -> np.ndarray:
    """The Pascal VOC palette: (n, 3) uint8 (bit-interleaved class index)."""
    cmap = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


def load(path: Path) -> Dataset:
    names = _read_classes(path)
    dataset = Dataset(names, [])
    obj_dir, cls_dir, img_dir = path / "SegmentationObject", path / "SegmentationClass", path / "JPEGImages"
    listed = _image_set(path)
    for png in sorted(obj_dir.rglob("*.png")):
        stem = png.relative_to(obj_dir).with_suffix("").as_posix()
        listed.discard(stem)
        image = next((p for ext in IMAGE_EXTENSIONS if (p := img_dir / f"{stem}{ext}").is_file()), None)
        if image is None:
            dataset.warnings.append(f"{png}: no image {stem}.* in {img_dir}; skipped")
            continue
        w, h = image_size(image)
        objects = _read_png(png, (w, h), image)
        classes = _read_png(cls_dir / f"{stem}.png", (w, h), image)
        entry = ImageEntry(image.relative_to(img_dir).as_posix(), w, h)
        for k in sorted(set(np.unique(objects).tolist()) - {0, VOID}):
            mask = objects == k
            label = int(np.bincount(classes[mask]).argmax())
            if not 0 < label < len(names) + 1:
                dataset.warnings.append(f"{png}: object {k} has class {label}, not in {LABELMAP}; skipped")
                continue
            entry.instances.append(annotation_from_mask(mask, label - 1))
        dataset.images.append(entry)
    for stem in sorted(listed):  # listed images without objects
        safe_relative(stem, f"{path / 'ImageSets' / 'Segmentation' / 'default.txt'}: {stem!r}")
        image = next((p for ext in IMAGE_EXTENSIONS if (p := img_dir / f"{stem}{ext}").is_file()), None)
        if image is not None:
            w, h = image_size(image)
            dataset.images.append(ImageEntry(image.relative_to(img_dir).as_posix(), w, h))
    return dataset


def _read_classes(root: Path) -> list[str]:
    labelmap, plain = root / LABELMAP, root / "labels.txt"
    if labelmap.is_file():
        lines = [ln for ln in _read_text(labelmap).splitlines() if ln.strip()]
        names = [ln.split(":")[0].strip() for ln in lines if not ln.lstrip().startswith("#")]
    elif plain.is_file():
        names = [ln.strip() for ln in _read_text(plain).splitlines() if ln.strip()]
    else:
        raise AnnotationError(f"{root}: no {LABELMAP} (or labels.txt) with the class names")
    source = labelmap if labelmap.is_file() else plain
    if not names or names[0].lower() not in ("background", "_background_"):
        raise AnnotationError(f"{source}: the first class must be background")
    if len(set(names)) < len(names):  # a pixel's class is its line: which of the two is meant?
        twice = next(n for n in names if names.count(n) > 1)
        raise AnnotationError(f"{source}: class {twice!r} is listed twice")
    return names[1:]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise AnnotationError(f"{path}: not a text (UTF-8) file") from None


def _image_set(root: Path) -> set[str]:
    f = root / "ImageSets" / "Segmentation" / "default.txt"
    if not f.is_file():
        return set()
    return {ln.strip() for ln in _read_text(f).splitlines() if ln.strip()}


def _read_png(path: Path, size: tuple[int, int], image: Path) -> np.ndarray:
    """The (H, W) indices of a mask PNG that must be ``size`` (W, H), the size of ``image``."""
    if not path.is_file():
        raise AnnotationError(f"{path}: not found")
    try:
        with Image.open(path) as im:
            if im.mode not in ("P", "L"):
                raise AnnotationError(f"{path}: must be a palette or grey PNG of indices, got mode {im.mode}")
            if im.size != size:  # checked before decoding: a crafted header cannot exhaust memory
                raise AnnotationError(f"{path}: size {im.size} differs from {image}")
            return np.asarray(im)
    except AnnotationError:
        raise
    except Exception:  # corrupt PNGs: Pillow raises OSError, SyntaxError, zlib.error, ...
        raise AnnotationError(f"{path}: not a readable PNG (truncated, corrupt or too large)") from None


def save(dataset: Dataset, path: Path, images_dir: Path | None = None) -> list[str]:
    if len(dataset.class_names) > 254:
        raise AnnotationError(
            f"{path}: VOC class PNGs hold at most 254 classes, got {len(dataset.class_names)}"
        )
    cmap = voc_colormap()
    files = {LABELMAP: _labelmap(dataset.class_names, cmap), "ImageSets/Segmentation/default.txt": b""}
    warnings, stems = [], []
    for im in dataset.images:
        stem = str(PurePosixPath(im.file_name).with_suffix(""))
        if stem in stems:
            raise AnnotationError(f"{im.file_name}: two images share the name {stem}; rename one")
        stems.append(stem)
        objects, classes = _render(im, warnings)  # written for empty images too: saving over an old
        files[f"SegmentationObject/{stem}.png"] = _png(objects, cmap)  # export must not leave stale masks
        files[f"SegmentationClass/{stem}.png"] = _png(classes, cmap)
    files["ImageSets/Segmentation/default.txt"] = "".join(f"{s}\n" for s in stems).encode("utf-8")
    copies = image_copies(dataset.images, images_dir, prefix="JPEGImages/")
    if images_dir is None:
        warnings.append(f"{path}: images not copied (pass --images); VOC reads them from JPEGImages/")
    write_tree(path, files, copies)
    return warnings


def _render(im: ImageEntry, warnings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    objects = np.zeros((im.height, im.width), np.uint8)
    classes = np.zeros((im.height, im.width), np.uint8)
    if len(im.instances) > 254:
        warnings.append(f"{im.file_name}: {len(im.instances)} objects, VOC PNGs hold 254; the rest dropped")
    kept = list(enumerate(im.instances[:254], start=1))
    for k, inst in sorted(
        kept, key=lambda item: -item[1].area
    ):  # larger first: small objects survive overlaps
        mask = inst.mask()
        objects[mask], classes[mask] = k, inst.label + 1
    for k, inst in kept:
        if (lost := inst.area - int((objects == k).sum())) > 0:
            warnings.append(
                f"{im.file_name} object {k - 1}: {lost} of its {inst.area} px overlap smaller objects, "
                "which keep them (a VOC pixel holds one object)"
            )
    return objects, classes


def _png(index: np.ndarray, cmap: np.ndarray) -> bytes:
    image = Image.frombytes("P", index.shape[::-1], np.ascontiguousarray(index).tobytes())
    image.putpalette(cmap.ravel().tolist())
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _labelmap(names: list[str], cmap: np.ndarray) -> bytes:
    lines = ["# label:color_rgb:parts:actions"]
    for i, name in enumerate(["background", *names]):
        if ":" in name:
            raise AnnotationError(f"class name {name!r}: VOC's labelmap.txt cannot hold a ':'")
        lines.append(f"{name}:{','.join(str(int(v)) for v in cmap[i])}::")
    return ("\n".join(lines) + "\n").encode("utf-8")
