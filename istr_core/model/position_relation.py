"""Pairwise box geometry as a bias on the self-attention between proposals (Relation-DETR's position
relation, Hou et al., ECCV 2024).

Why: with one-to-one matching only one proposal per object may score high, so a proposal has to
learn that another, more confident one already covers its object. The paper's self-attention sees
only the proposals' content features and must first learn where each proposal is before it can
learn that; on a small dataset and a short budget this is what leaves duplicate detections with
mid-range scores. A bias computed from the two boxes (offset and scale ratio) gives the attention the
overlap directly. It changes no other part of ISTR and adds ``4 * num_feats * num_heads`` weights per
stage.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..ops.boxes import xyxy_to_cxcywh


def box_relation(boxes: Tensor, eps: float = 1e-5) -> Tensor:
    """(B, N, 4) xyxy -> (B, N, N, 4): for query i and key j, log(1 + |dx|/w_i), log(1 + |dy|/h_i),
    log(w_i/w_j), log(h_i/h_j). Scale-free, so the same bias fits small and large objects."""
    cxcywh = xyxy_to_cxcywh(boxes)
    xy, wh = cxcywh[..., :2], cxcywh[..., 2:].clamp(min=eps)
    delta_xy = torch.log1p((xy[:, :, None] - xy[:, None, :]).abs() / wh[:, :, None])
    delta_wh = torch.log(wh[:, :, None] / wh[:, None, :])
    return torch.cat([delta_xy, delta_wh], -1)


def sine_embedding(values: Tensor, num_feats: int, temperature: float = 10000.0, scale: float = 100.0) -> Tensor:
    """(..., K) -> (..., K * num_feats): each value as num_feats/2 sine/cosine pairs of falling frequency."""
    freqs = temperature ** (torch.arange(num_feats // 2, dtype=values.dtype, device=values.device) * 2 / num_feats)
    x = values[..., None] * scale / freqs
    return torch.stack([x.sin(), x.cos()], -1).flatten(-3)


class PositionRelation(nn.Module):
    """Boxes (B, N, 4) -> additive attention bias (B * num_heads, N, N), one map per head, >= 0."""

    def __init__(self, num_heads: int, num_feats: int = 16):
        super().__init__()
        if num_feats % 2:
            raise ValueError("num_feats must be even (sine/cosine pairs)")
        self.num_heads, self.num_feats = num_heads, num_feats
        self.proj = nn.Linear(4 * num_feats, num_heads)
        nn.init.normal_(self.proj.weight, std=1.0 / math.sqrt(4 * num_feats))
        nn.init.zeros_(self.proj.bias)

    def forward(self, boxes: Tensor) -> Tensor:
        b, n, _ = boxes.shape
        with torch.no_grad():  # boxes are detached between stages; the geometry needs no gradient
            embedded = sine_embedding(box_relation(boxes.float()), self.num_feats)
        bias = torch.relu(self.proj(embedded.to(self.proj.weight.dtype)))  # (B, N, N, heads)
        return bias.permute(0, 3, 1, 2).reshape(b * self.num_heads, n, n)
