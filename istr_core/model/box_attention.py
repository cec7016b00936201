"""Where the proposals are, for the self-attention among them (AdaMixer's position-aware attention).

The paper's self-attention (as Sparse R-CNN's) sees only the proposals' content features. It is the
only place where one proposal can learn that another already covers its object, which is what lets
a one-to-one trained head go without NMS. On a dataset of look-alike objects (droplets), two
proposals on one droplet and two on neighbouring droplets have the same content, so the head must
first infer position from content before it can suppress duplicates, and that takes many steps.

This module hands it the boxes directly (Gao et al., "AdaMixer", CVPR 2022, section 3.4):
  * each head h adds ``tau_h * log(IoF(i, j) + 1e-7)`` to the attention logit of proposal i on j,
    IoF = intersection / area of box i, with ``tau_h`` learnt (initialised uniformly in [0, 4]); a
    head with tau near 0 attends globally, one with a large tau only to boxes that overlap box i;
  * queries and keys get a sine embedding of the box (centre, size, relative to the image).
No new matching, loss or inference step: an option of the refinement stage (HeadConfig.box_aware_attention).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def intersection_over_first(boxes: Tensor) -> Tensor:
    """(B, N, 4) xyxy -> (B, N, N): area(box i & box j) / area(box i)."""
    lt = torch.maximum(boxes[:, :, None, :2], boxes[:, None, :, :2])
    rb = torch.minimum(boxes[:, :, None, 2:], boxes[:, None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0).prod(-1)
    return inter / area.clamp(min=1e-6)[:, :, None]


def box_sine_embedding(boxes: Tensor, image_whwh: Tensor, dim: int, temperature: float = 10000.0) -> Tensor:
    """(B, N, 4) xyxy pixels and (B, 4) image sizes -> (B, N, dim): a DETR-style sine/cosine code of
    the normalised centre x, y, width and height, dim / 4 channels each."""
    if dim % 8:
        raise ValueError(f"box_sine_embedding needs dim divisible by 8, got {dim}")
    norm = boxes / image_whwh[:, None, :]
    cxcywh = torch.stack([(norm[..., 0] + norm[..., 2]) / 2, (norm[..., 1] + norm[..., 3]) / 2,
                          norm[..., 2] - norm[..., 0], norm[..., 3] - norm[..., 1]], -1)
    per = dim // 4
    freqs = temperature ** (2 * (torch.arange(per // 2, device=boxes.device, dtype=boxes.dtype)) / per)
    angles = cxcywh[..., None] * (2 * math.pi) / freqs  # (B, N, 4, per/2)
    return torch.cat([angles.sin(), angles.cos()], -1).flatten(-2)


class BoxAwareAttentionInputs(nn.Module):
    """Queries/keys with box embeddings and the per-head IoF bias, for ``nn.MultiheadAttention``."""

    def __init__(self, hidden_dim: int, num_heads: int):
        super().__init__()
        self.hidden_dim, self.num_heads = hidden_dim, num_heads
        self.iof_tau = nn.Parameter(torch.empty(num_heads).uniform_(0.0, 4.0))

    def forward(self, pro_features: Tensor, boxes: Tensor, image_whwh: Tensor,
                attn_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """pro_features (B, N, C); boxes (B, N, 4) xyxy; image_whwh (B, 4); attn_mask (N, N) bool,
        True = may not attend. Returns queries/keys (B, N, C) and a float mask (B*heads, N, N)."""
        b, n, _ = pro_features.shape
        boxes = boxes.detach().to(pro_features.dtype)
        with torch.no_grad():
            log_iof = torch.log(intersection_over_first(boxes) + 1e-7)
        bias = (self.iof_tau[None, :, None, None] * log_iof[:, None]).reshape(b * self.num_heads, n, n)
        if attn_mask is not None:
            bias = bias.masked_fill(attn_mask[None], float("-inf"))
        qk = pro_features + box_sine_embedding(boxes, image_whwh.to(boxes.dtype), self.hidden_dim)
        return qk, bias
