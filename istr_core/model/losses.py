"""The set-loss terms as pure functions. Each returns a sum; the criterion divides by the number of
ground-truth instances (across all processes) so the scale does not depend on batch size."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import sigmoid_focal_loss

from ..ops.boxes import generalized_box_iou


def focal_class_loss(logits: Tensor, target_classes: Tensor, alpha: float, gamma: float) -> Tensor:
    """logits (N, K); target_classes (N,) in [0, K] with K meaning 'no object' -> summed focal loss."""
    num_classes = logits.shape[-1]
    onehot = torch.zeros_like(logits, dtype=torch.float32)
    pos = target_classes < num_classes
    onehot[pos.nonzero(as_tuple=True)[0], target_classes[pos]] = 1.0
    return sigmoid_focal_loss(logits.float(), onehot, alpha=alpha, gamma=gamma, reduction="sum")


def l1_box_loss(pred: Tensor, target: Tensor, image_size: Tensor) -> Tensor:
    """xyxy boxes (M, 4) normalised by (w, h, w, h) (M, 4) -> summed L1."""
    return (pred.float() / image_size - target / image_size).abs().sum()


def giou_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Matched xyxy boxes (M, 4) -> sum of 1 - GIoU."""
    if pred.numel() == 0:
        return pred.sum() * 0
    return (1 - torch.diag(generalized_box_iou(pred.float(), target))).sum()


def embedding_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mask codes (M, D) -> squared error summed over instances, averaged over dimensions (ISTR)."""
    return ((pred.float() - target) ** 2).sum() / max(pred.shape[-1], 1)


def dice_loss(pred: Tensor, target: Tensor, eps: float = 1e-5) -> Tensor:
    """Decoded masks (M, S, S) in [0, 1] vs binary targets (M, S, S) -> sum of 1 - dice."""
    p, t = pred.flatten(1).float(), target.flatten(1).float()
    dice = 2 * (p * t).sum(1) / ((p**2).sum(1) + (t**2).sum(1) + eps)
    return (1 - dice).sum()
