"""Contrastive denoising queries (DINO, Zhang et al. 2022) for ISTR's training.

Why: in a short schedule the one-to-one main group does not learn to suppress its duplicates, and
ISTR uses no NMS, so every duplicate that keeps a high score costs AP. DINO's contrastive denoising
gives that skill dense, direct supervision: for every ground-truth instance the head also refines a
*positive* query (its box slightly noised; target: the instance) and a *negative* one (noised more;
target: no object). A negative sits next to the positive of the same instance in one self-attention
group, so rejecting it is exactly rejecting a worse copy of an object another query already covers.
The stage weights are shared with the main group, which is what carries the skill over.

The queries are training-only: their boxes come from the targets, their features from a per-class
embedding; the groups never see the main or the auxiliary group (ISTR's attention mask).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .matcher import MatchTarget


@dataclass
class DenoisingQueries:
    """boxes (B, Q, 4) xyxy in the resized images; features (B, Q, C); group (Q,) the self-attention
    group of each query (0, 1, ...); matches per image (query indices, target indices) of the positive
    queries; every other query's target is no object."""

    boxes: Tensor
    features: Tensor
    group: Tensor
    matches: list[tuple[Tensor, Tensor]]


def make_denoising_queries(
    targets: list[MatchTarget],
    label_embedding: Tensor,
    num_groups: int,
    box_noise: float,
    label_noise: float,
    generator: torch.Generator | None = None,
) -> DenoisingQueries:
    """``num_groups`` groups of 2P queries, P = the most instances in one image of the batch (at least
    1): P positive slots, then P negative slots. Slot j of image i stands for instance ``j % M_i``; a
    positive slot beyond that image's M_i instances is noised like a negative (no object), so every
    image fills the same number of slots without two positives for one instance in a group.

    Box corners move by ``box_noise`` x half the box's size x u, with u in [0, 1) for positives and
    [1, 2) for negatives (DINO's scheme); each query's label is replaced by a random class with
    probability ``label_noise``.
    """
    device = label_embedding.device
    num_classes = label_embedding.shape[0]
    p = max([len(t.labels) for t in targets] + [1])
    slots = torch.arange(2 * p * num_groups, device=device)
    within = slots % (2 * p)
    negative_slot = within >= p
    index = within % p
    boxes, labels, matches = [], [], []
    for t in targets:
        m = len(t.labels)
        w, h = float(t.image_size[0]), float(t.image_size[1])
        if m:
            gt = index % m
            base, lab = t.boxes[gt].float(), t.labels[gt]
            positive = ~negative_slot & (index < m)
        else:  # no instances: random boxes, all no object
            gt = torch.zeros_like(index)
            wh = torch.tensor([w, h], device=device)
            centre = torch.rand(len(slots), 2, device=device, generator=generator) * wh
            half = torch.rand(len(slots), 2, device=device, generator=generator) * 0.25 * wh + 1
            base = torch.cat([centre - half, centre + half], 1)
            lab = torch.randint(num_classes, (len(slots),), device=device, generator=generator)
            positive = torch.zeros_like(negative_slot)
        scale = torch.rand(len(slots), 4, device=device, generator=generator) + (~positive).float()[:, None]
        sign = torch.randint(0, 2, (len(slots), 4), device=device, generator=generator).float() * 2 - 1
        half_size = (base[:, 2:] - base[:, :2]).repeat(1, 2) / 2
        noised = base + sign * scale * half_size * box_noise
        boxes.append(_valid_boxes(noised, w, h))
        flip = torch.rand(len(slots), device=device, generator=generator) < label_noise
        random_labels = torch.randint(num_classes, (len(slots),), device=device, generator=generator)
        labels.append(torch.where(flip, random_labels, lab))
        src = slots[positive]
        matches.append((src.cpu(), gt[positive].cpu()))
    labels_t = torch.stack(labels)
    return DenoisingQueries(torch.stack(boxes), label_embedding[labels_t], slots // (2 * p), matches)


def _valid_boxes(boxes: Tensor, w: float, h: float, min_size: float = 1.0) -> Tensor:
    """Order the corners, clip to the image, and keep at least ``min_size`` pixels per side."""
    x0, x1 = torch.minimum(boxes[:, 0], boxes[:, 2]), torch.maximum(boxes[:, 0], boxes[:, 2])
    y0, y1 = torch.minimum(boxes[:, 1], boxes[:, 3]), torch.maximum(boxes[:, 1], boxes[:, 3])
    x0, y0 = x0.clamp(0, w - min_size), y0.clamp(0, h - min_size)
    x1, y1 = torch.maximum(x1.clamp(max=w), x0 + min_size), torch.maximum(y1.clamp(max=h), y0 + min_size)
    return torch.stack([x0, y0, x1, y1], 1)
