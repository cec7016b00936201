"""Resizing and batching inside the model, as torchvision detection models do, so callers pass images
of any size in [0, 1] and get predictions back in their own pixel coordinates."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def resize_scale(height: int, width: int, min_size: int, max_size: int) -> float:
    """Scale that brings the shorter side to ``min_size`` unless the longer would exceed ``max_size``."""
    return min(min_size / min(height, width), max_size / max(height, width))


# Small objects are zoomed until their median side reaches this many input pixels (COCO's "small"
# bound): a 24 px droplet in a 1024x768 frame is 12 px at the 384 px default scale, three cells of
# the finest feature map. The online trainer learns such an image on crops of 1/zoom of it per side
# and the Segmenter predicts it in tiles of that size (predict/tiles.py; benchmarks/README, "Tiles
# the size of the training crops").
ZOOM_TARGET_SIDE = 32.0
MAX_ZOOM = 3.0
MIN_ZOOM = 1.25  # under this an image is learned and predicted whole (tiles would cost 4x for little)
# checkpoint metadata: {"WxH": zoom} learned from reviewed images of that size (the online trainer
# writes it); the Segmenter predicts an image of a listed size in tiles of 1/zoom of it per side
INPUT_ZOOM_KEY = "input_zoom"


def zoom_for_objects(
    sides, height: int, width: int, min_size: int, max_size: int, target: float = ZOOM_TARGET_SIDE
) -> float:
    """How much to enlarge an image of (height, width) beyond the model's own input scale so its
    objects' median side (``sides``, in the image's pixels) reaches ``target``; 1 when they are
    already that large, or nearly (under MIN_ZOOM), or there are none, or ``target`` is 0; at most
    ``MAX_ZOOM``."""
    sides = [float(s) for s in sides]
    if not sides or target <= 0:
        return 1.0
    median = sorted(sides)[len(sides) // 2] * resize_scale(height, width, min_size, max_size)
    zoom = min(MAX_ZOOM, target / max(median, 1e-6))
    return float(zoom) if zoom >= MIN_ZOOM else 1.0


class ImageBatcher(torch.nn.Module):
    def __init__(
        self,
        min_size: int,
        max_size: int,
        train_min_sizes: tuple[int, ...],
        pixel_mean: tuple[float, ...],
        pixel_std: tuple[float, ...],
        size_divisible: int = 32,
    ):
        super().__init__()
        self.min_size, self.max_size = min_size, max_size
        self.train_min_sizes = tuple(train_min_sizes) or (min_size,)
        self.size_divisible = size_divisible
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(3, 1, 1), persistent=False)

    def forward(self, images: list[Tensor]) -> tuple[Tensor, list[tuple[int, int]]]:
        """images: list of (3, H, W) float in [0, 1] -> padded normalised batch (B, 3, Hp, Wp) and
        the unpadded resized size (h, w) of each image."""
        resized = []
        for image in images:
            if image.dim() != 3 or image.shape[0] != 3:
                raise ValueError(f"expected images of shape (3, H, W), got {tuple(image.shape)}")
            min_size = self._train_scale() if self.training else self.min_size
            h, w = image.shape[-2:]
            scale = resize_scale(h, w, min_size, self.max_size)
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            image = (image - self.pixel_mean) / self.pixel_std
            resized.append(F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0])
        sizes = [(int(r.shape[-2]), int(r.shape[-1])) for r in resized]
        d = self.size_divisible
        hp = max(s[0] for s in sizes) + (-max(s[0] for s in sizes)) % d
        wp = max(s[1] for s in sizes) + (-max(s[1] for s in sizes)) % d
        batch = resized[0].new_zeros((len(resized), 3, hp, wp))
        for b, r in zip(batch, resized, strict=True):
            b[:, : r.shape[1], : r.shape[2]].copy_(r)
        return batch, sizes

    def _train_scale(self) -> int:
        """A random training scale, drawn from torch's generator like every other random choice of
        the model (the online trainer keeps its own stream of it, so a session is reproducible)."""
        return self.train_min_sizes[int(torch.randint(len(self.train_min_sizes), ()))]
