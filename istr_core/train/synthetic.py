"""Procedural scenes with exact instance masks: training data the project may redistribute, and
small datasets for tests.

Each scene draws textured shapes (ellipses, polygons, rings with holes, blobs) over a textured
background, back to front, so later shapes occlude earlier ones; an instance's mask is what remains
visible. Categories are shape families, so a model must learn shape, not colour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from ..data.atomic import write_json_atomic
from ..data.rle import mask_bbox_xywh, mask_to_rle
from ..formats.coco import coco_dict

CATEGORIES = ["ellipse", "polygon", "ring", "blob"]


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = rng.integers(0, 256, 3).astype(np.float32)
    kind = rng.integers(0, 3)
    if kind == 0:  # flat with noise
        tex = np.broadcast_to(base, (h, w, 3)) + rng.normal(0, 8, (h, w, 1))
    elif kind == 1:  # stripes
        period = rng.uniform(4, 20)
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w]
        wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)[..., None]
        tex = base + 40 * wave
    else:  # smooth blotches
        small = rng.normal(0, 40, (max(h // 16, 2), max(w // 16, 2), 1)).astype(np.float32)
        tex = base + cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)[..., None]
    return np.clip(tex, 0, 255).astype(np.uint8)


def _shape_mask(rng: np.random.Generator, family: str, h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    s = min(h, w)
    cx, cy = int(rng.uniform(0.05, 0.95) * w), int(rng.uniform(0.05, 0.95) * h)
    r = int(rng.uniform(0.05, 0.22) * s) + 3
    if family == "ellipse":
        axes = (r, max(3, int(r * rng.uniform(0.4, 1.0))))
        cv2.ellipse(mask, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    elif family == "polygon":
        k = int(rng.integers(3, 7))
        ang = (
            np.sort(rng.uniform(0, 2 * np.pi, k))
            if k > 4
            else np.linspace(0, 2 * np.pi, k, endpoint=False) + rng.uniform(0, 6.3)
        )
        pts = np.stack([cx + r * np.cos(ang), cy + r * np.sin(ang)], 1).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1)
    elif family == "ring":
        cv2.circle(mask, (cx, cy), r, 1, -1)
        cv2.circle(mask, (cx, cy), max(1, int(r * rng.uniform(0.35, 0.6))), 0, -1)  # the hole
    else:  # blob: union of a few circles
        for _ in range(int(rng.integers(3, 6))):
            ox, oy = rng.normal(0, r * 0.5, 2)
            cv2.circle(mask, (int(cx + ox), int(cy + oy)), max(2, int(r * rng.uniform(0.3, 0.6))), 1, -1)
    return mask.astype(bool)


def make_scene(
    rng: np.random.Generator, height: int = 256, width: int = 256, max_objects: int = 8, min_area: int = 30
):
    """-> (image HxWx3 uint8 RGB, masks (M, H, W) bool, labels (M,) int in [0, len(CATEGORIES)))."""
    image = _texture(rng, height, width)
    visible: list[np.ndarray] = []
    labels: list[int] = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        label = int(rng.integers(0, len(CATEGORIES)))
        mask = _shape_mask(rng, CATEGORIES[label], height, width)
        if not mask.any():
            continue
        image[mask] = _texture(rng, height, width)[mask]
        visible = [v & ~mask for v in visible]
        visible.append(mask)
        labels.append(label)
    keep = [i for i, v in enumerate(visible) if v.sum() >= min_area]
    masks = np.stack([visible[i] for i in keep]) if keep else np.zeros((0, height, width), bool)
    image = _photometric(rng, image, masks)
    return image, masks, np.array([labels[i] for i in keep], dtype=np.int64)


def _photometric(rng: np.random.Generator, image: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Make scenes look less like flat cartoons: object rims (as cells and droplets have), uneven
    illumination, sometimes grey-level (microscopy), blur and sensor noise."""
    if rng.random() < 0.5:
        rim = np.zeros(image.shape[:2], np.uint8)
        for m in masks:
            contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(rim, contours, -1, 1, int(rng.integers(1, 4)))
        shade = rng.integers(0, 256)
        image[rim.astype(bool)] = (0.3 * image[rim.astype(bool)] + 0.7 * shade).astype(np.uint8)
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (xx * np.cos(angle) + yy * np.sin(angle)) / max(h, w)
    gain = 1.0 + rng.uniform(0, 0.4) * (ramp - ramp.mean())
    image = np.clip(image * gain[..., None], 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        image = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    k = int(rng.choice([1, 3, 5]))
    if k > 1:
        image = cv2.GaussianBlur(image, (k, k), 0)
    noise = rng.normal(0, rng.uniform(0, 6), image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def write_synthetic_coco(
    folder: str | Path,
    num_images: int,
    height: int = 256,
    width: int = 256,
    seed: int = 0,
    max_objects: int = 8,
    json_name: str = "annotations.json",
    scene: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]] = make_scene,
    categories: Sequence[str] = CATEGORIES,
) -> Path:
    """Write ``num_images`` PNG scenes and a COCO JSON (RLE masks) into ``folder``; returns the JSON path.

    ``scene(rng, height, width, max_objects)`` draws one scene as :func:`make_scene` does, with labels
    indexing ``categories``; tests pass their own to get data of another kind."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    entries = []
    for i in range(num_images):
        image, masks, labels = scene(rng, height, width, max_objects)
        name = f"scene_{i:05d}.png"
        cv2.imwrite(str(folder / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        annotations = [
            {
                "category_id": int(label) + 1,
                "segmentation": mask_to_rle(mask),
                "bbox": mask_bbox_xywh(mask),
                "area": float(mask.sum()),
                "iscrowd": 0,
            }
            for mask, label in zip(masks, labels, strict=True)
        ]
        entries.append(({"file_name": name, "width": width, "height": height}, annotations))
    classes = [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(categories)]
    return write_json_atomic(folder / json_name, coco_dict(entries, classes))
