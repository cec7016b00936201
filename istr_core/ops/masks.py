"""Mask geometry: crop full-image masks to boxes (for the codec) and paste box masks back."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import roi_align


def crop_and_resize(masks: Tensor, boxes: Tensor, size: int) -> Tensor:
    """Full-image masks (N, H, W) and their xyxy boxes (N, 4) -> box-aligned soft masks (N, size, size).

    RoIAlign with ``aligned=True`` samples the box interior exactly, so ``paste_masks`` inverts it.
    """
    if masks.shape[0] == 0:
        return masks.new_zeros((0, size, size), dtype=torch.float32)
    rois = torch.cat([torch.arange(len(boxes), device=boxes.device, dtype=boxes.dtype)[:, None], boxes], 1)
    out = roi_align(
        masks[:, None].float(), rois.float(), (size, size), spatial_scale=1.0, sampling_ratio=2, aligned=True
    )
    return out[:, 0]


def paste_masks(box_masks: Tensor, boxes: Tensor, height: int, width: int) -> Tensor:
    """Box-aligned soft masks (N, S, S) + xyxy boxes (N, 4) -> full-image soft masks (N, H, W).

    Each mask is resampled (bilinear ``grid_sample``) only over the pixels its box covers, so memory
    stays O(box area) per instance instead of O(N x image); it runs on whatever device the inputs are.
    """
    n = box_masks.shape[0]
    dtype = box_masks.dtype if box_masks.dtype in (torch.float32, torch.float64) else torch.float32
    out = box_masks.new_zeros((n, height, width), dtype=dtype)
    boxes = boxes.to(dtype)
    for i in range(n):
        x0, y0, x1, y1 = boxes[i].tolist()
        c0, r0 = max(int(x0), 0), max(int(y0), 0)
        c1, r1 = min(int(x1) + 1, width), min(int(y1) + 1, height)
        if c1 <= c0 or r1 <= r0 or x1 - x0 <= 1e-3 or y1 - y0 <= 1e-3:
            continue
        xs = torch.arange(c0, c1, device=boxes.device, dtype=dtype) + 0.5
        ys = torch.arange(r0, r1, device=boxes.device, dtype=dtype) + 0.5
        gx = (xs - x0) / (x1 - x0) * 2 - 1
        gy = (ys - y0) / (y1 - y0) * 2 - 1
        grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1)[None]
        patch = F.grid_sample(
            box_masks[i, None, None].to(dtype),
            grid,
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        )
        out[i, r0:r1, c0:c1] = patch[0, 0]
    return out
