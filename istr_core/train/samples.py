"""Training samples from a validated COCO file: image tensor + torchvision-style target.

Images are pre-shrunk to ``max_side`` (the model resizes again to its random training scale), which
keeps mask decoding and cropping cheap on CPU. Augmentation: horizontal/vertical flip and random
crop; multi-scale resizing happens inside the model. Crowd regions are dropped from the targets
(they are never matched, so they cost nothing but are not learned from either).
"""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..data.images import image_to_tensor, read_image
from ..data.rle import annotation_mask
from ..formats.coco import CocoData
from ..formats.dataset import resolve_image_path


class CocoInstanceDataset(Dataset):
    def __init__(
        self,
        coco: CocoData,
        images_dir: str | Path,
        class_index: dict[int, int] | None = None,
        max_side: int = 0,
        train: bool = True,
        hflip: bool = True,
        vflip: bool = False,
        crop_prob: float = 0.5,
        cache: bool = False,
    ):
        self.coco, self.images_dir = coco, Path(images_dir)
        # decoded samples by index; small datasets keep them so each epoch skips JPEG/polygon decoding
        self._cache: dict[int, tuple] | None = {} if cache else None
        self.class_index = class_index or coco.class_index()
        self.max_side, self.train = max_side, train
        self.hflip, self.vflip, self.crop_prob = hflip, vflip, crop_prob

    def __len__(self) -> int:
        return len(self.coco.images)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Un-augmented (image HxWx3 uint8, masks (M,H,W) uint8, labels (M,)) at ``max_side`` scale."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        sample = self._load(index)
        if self._cache is not None:
            self._cache[index] = sample
        return sample

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        info = self.coco.images[index]
        image = read_image(resolve_image_path(self.images_dir, info.file_name))
        anns = [
            a for a in info.annotations if not a.get("iscrowd", 0) and a["category_id"] in self.class_index
        ]
        h, w = info.height, info.width
        masks = np.stack([annotation_mask(a, h, w) for a in anns]) if anns else np.zeros((0, h, w), np.uint8)
        if image.shape[:2] != (h, w):  # file differs from the JSON: trust the pixels, rescale the masks
            masks = _resize_masks(masks, image.shape[0], image.shape[1])
        labels = np.array([self.class_index[a["category_id"]] for a in anns], dtype=np.int64)
        image, masks = shrink(image, masks, self.max_side)
        return image, masks, labels

    def __getitem__(self, index: int):
        image, masks, labels = self.load(index)
        if self.train:
            image, masks = self._augment(image, masks)
        return training_sample(image, masks, labels, self.coco.images[index].id)

    def _augment(self, image: np.ndarray, masks: np.ndarray):
        return augment(image, masks, self.hflip, self.vflip, self.crop_prob)


def augment(image: np.ndarray, masks: np.ndarray, hflip: bool, vflip: bool, crop_prob: float, rng=random):
    """Random flips and a random crop of 60-100% per side; ``rng`` a ``random.Random`` (default: the
    global one, which the batch trainer seeds)."""
    if hflip and rng.random() < 0.5:
        image, masks = image[:, ::-1], masks[:, :, ::-1]
    if vflip and rng.random() < 0.5:
        image, masks = image[::-1], masks[:, ::-1]
    if rng.random() < crop_prob:
        h, w = image.shape[:2]
        ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
        y, x = rng.randint(0, h - ch), rng.randint(0, w - cw)
        image, masks = image[y : y + ch, x : x + cw], masks[:, y : y + ch, x : x + cw]
    return image, masks


COPY_PASTE_SCALE = (0.5, 1.5)  # the pasted layer's size against the target's, drawn uniformly
MIN_PASTED_PIXELS = 8  # a pasted object scaled or cut to fewer pixels is left out


def copy_paste(
    target: tuple[np.ndarray, np.ndarray, np.ndarray],
    source: tuple[np.ndarray, np.ndarray, np.ndarray],
    rng=random,
    scale: tuple[float, float] = COPY_PASTE_SCALE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simple Copy-Paste (Ghiasi et al., CVPR 2021): a random half of ``source``'s objects, its
    image scaled to the target's size times a jitter in ``scale`` and shifted at random, pasted
    over ``target`` (image HxWx3, masks (M,H,W) uint8, labels (M,) each). Target objects lose what
    the pasted ones cover (those covered whole are dropped later, by :func:`training_sample`).

    Why: an online session has a handful of reviewed images; pasting their objects into each
    other's backgrounds, at other places and sizes, shows the model more arrangements per step."""
    image, masks, labels = target
    src_image, src_masks, src_labels = source
    if len(src_masks) == 0:
        return target
    chosen = [i for i in range(len(src_masks)) if rng.random() < 0.5] or [rng.randrange(len(src_masks))]
    h, w = image.shape[:2]
    sh, sw = src_image.shape[:2]
    f = min(h / sh, w / sw) * rng.uniform(*scale)
    size = (max(1, round(sw * f)), max(1, round(sh * f)))
    layer = cv2.resize(src_image, size, interpolation=cv2.INTER_LINEAR)
    pasted = _resize_masks(src_masks[chosen], size[1], size[0])
    # the layer's top-left: the layer lies inside the target, or covers it along a side it is longer
    y, x = (
        rng.randint(min(0, h - size[1]), max(0, h - size[1])),
        rng.randint(min(0, w - size[0]), max(0, w - size[0])),
    )
    ys, xs = slice(max(0, y), min(h, y + size[1])), slice(max(0, x), min(w, x + size[0]))
    ls, lx = slice(ys.start - y, ys.stop - y), slice(xs.start - x, xs.stop - x)
    placed = np.zeros((len(chosen), h, w), np.uint8)
    placed[:, ys, xs] = pasted[:, ls, lx]
    keep = placed.reshape(len(placed), -1).sum(1) >= MIN_PASTED_PIXELS
    placed, pasted_labels = placed[keep], np.asarray(src_labels)[chosen][keep]
    if not len(placed):
        return target
    cover = placed.any(0)
    image = image.copy()
    image[ys, xs][cover[ys, xs]] = layer[ls, lx][cover[ys, xs]]
    masks = masks * (~cover)[None].astype(np.uint8) if len(masks) else masks
    return (
        image,
        np.concatenate([masks, placed]),
        np.concatenate([np.asarray(labels, np.int64), pasted_labels]),
    )


def training_sample(image: np.ndarray, masks: np.ndarray, labels: np.ndarray, image_id: int = 0):
    """(CHW float image in [0, 1], torchvision-style target) from an augmented sample; objects the
    crop removed entirely are dropped."""
    keep = masks.reshape(len(masks), -1).any(1) if len(masks) else np.zeros(0, bool)
    masks, labels = masks[keep], labels[keep]
    target = {
        "boxes": torch.from_numpy(mask_boxes(masks)),
        "labels": torch.from_numpy(labels),
        "masks": torch.from_numpy(np.ascontiguousarray(masks)),
        "image_id": torch.tensor(image_id),
    }
    return image_to_tensor(image), target


def shrink(image: np.ndarray, masks: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Image and masks with the shorter side at most ``max_side`` (0: unchanged); the model resizes
    again to its training scale, so anything larger only costs decoding and cropping time."""
    scale = max_side / min(image.shape[:2]) if max_side else 1.0
    if scale >= 1.0:
        return image, masks
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image, _resize_masks(masks, size[1], size[0])


def _resize_masks(masks: np.ndarray, height: int, width: int) -> np.ndarray:
    if len(masks) == 0:
        return np.zeros((0, height, width), np.uint8)
    return np.stack([cv2.resize(m, (width, height), interpolation=cv2.INTER_NEAREST) for m in masks])


def mask_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight xyxy boxes (M, 4) float32 of binary masks; x1/y1 are exclusive pixel edges."""
    boxes = np.zeros((len(masks), 4), np.float32)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m.any(1))[0], np.nonzero(m.any(0))[0]
        boxes[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return boxes


def collate(batch):
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)
