"""Box geometry as pure functions. Formats: ``xyxy`` absolute pixels unless a name says ``cxcywh``."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchvision.ops import box_iou, generalized_box_iou

__all__ = ["box_iou", "generalized_box_iou", "cxcywh_to_xyxy", "xyxy_to_cxcywh", "apply_deltas"]

_SCALE_CLAMP = math.log(100000.0 / 16)


def cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    x0, y0, x1, y1 = boxes.unbind(-1)
    return torch.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], dim=-1)


def apply_deltas(deltas: Tensor, boxes: Tensor, weights=(2.0, 2.0, 1.0, 1.0)) -> Tensor:
    """Move xyxy ``boxes`` (..., 4) by R-CNN ``deltas`` (dx, dy, dw, dh) (..., 4) -> xyxy (..., 4).

    Widths/heights are exponentiated, so the clamp keeps a bad step from producing inf.
    """
    boxes = boxes.to(deltas.dtype)
    widths = boxes[..., 2] - boxes[..., 0]
    heights = boxes[..., 3] - boxes[..., 1]
    ctr_x = boxes[..., 0] + 0.5 * widths
    ctr_y = boxes[..., 1] + 0.5 * heights
    wx, wy, ww, wh = weights
    dx, dy = deltas[..., 0] / wx, deltas[..., 1] / wy
    dw = torch.clamp(deltas[..., 2] / ww, max=_SCALE_CLAMP)
    dh = torch.clamp(deltas[..., 3] / wh, max=_SCALE_CLAMP)
    cx = dx * widths + ctr_x
    cy = dy * heights + ctr_y
    w = torch.exp(dw) * widths
    h = torch.exp(dh) * heights
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)
