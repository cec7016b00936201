"""Mask codecs: box-aligned masks (S x S) <-> low-dimensional embeddings the head regresses.

ISTR predicts a short vector per instance instead of a mask; a fixed linear decoder turns it back
into an S x S mask. The PCA codec (the paper's choice) is fitted on the training masks, whitened so
every component has unit variance (an L2 loss then weighs all components equally), and works on
inverse-sigmoid values so the decoder's output passes through a sigmoid into [0, 1]. The DCT codec
needs no fitting: it keeps the lowest-frequency coefficients.

Codecs are ``nn.Module``s whose parameters are buffers, so they travel in the model's state dict
(and therefore in every checkpoint) and move with ``.to(device)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

_EPS = 1e-2  # logit(1 - 1e-2) ~ 4.6: keeps inverse-sigmoid targets finite


def _logit(x: Tensor) -> Tensor:
    x = x.clamp(_EPS, 1 - _EPS)
    return torch.log(x / (1 - x))


class PCAMaskCodec(nn.Module):
    """Whitened PCA over flattened (inverse-sigmoid) S x S masks."""

    def __init__(self, mask_size: int, dim: int, whiten: bool = True, inverse_sigmoid: bool = True):
        super().__init__()
        self.mask_size, self.dim = mask_size, dim
        self.whiten, self.inverse_sigmoid = whiten, inverse_sigmoid
        n = mask_size * mask_size
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("components", torch.zeros(dim, n))  # rows are orthonormal
        self.register_buffer("std", torch.ones(dim))  # sqrt of explained variance
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def fit(self, masks: Tensor) -> PCAMaskCodec:
        """Fit on box-aligned masks (N, S, S) in [0, 1]; needs N >= 2."""
        if masks.shape[0] < 2:
            raise ValueError(f"need at least 2 masks to fit the PCA mask codec, got {masks.shape[0]}")
        x = self._prepare(masks.to(self.mean.device)).double()
        mean = x.mean(0)
        x = x - mean
        q = min(self.dim, x.shape[0], x.shape[1])
        # economy SVD of the centred data matrix; right singular vectors are the principal axes
        _, s, vh = torch.linalg.svd(x, full_matrices=False)
        components = torch.zeros_like(self.components, dtype=torch.float64)
        components[:q] = vh[:q]
        var = (s[:q] ** 2) / max(x.shape[0] - 1, 1)
        std = torch.ones(self.dim, dtype=torch.float64)
        # near-empty components would blow whitened codes up; floor them at 1% of the largest
        std[:q] = var.sqrt().clamp(min=max(var[0].sqrt().item() * 1e-2, 1e-6))
        self.mean.copy_(mean.float())
        self.components.copy_(components.float())
        self.std.copy_(std.float())
        self.fitted.fill_(True)
        return self

    def _prepare(self, masks: Tensor) -> Tensor:
        x = masks.flatten(1).float()
        return _logit(x) if self.inverse_sigmoid else x

    def encode(self, masks: Tensor) -> Tensor:
        """(N, S, S) in [0, 1] -> (N, dim)."""
        z = (self._prepare(masks) - self.mean) @ self.components.T
        return z / self.std if self.whiten else z

    def decode(self, codes: Tensor) -> Tensor:
        """(N, dim) -> (N, S, S) in [0, 1]."""
        z = codes.float() * self.std if self.whiten else codes.float()
        x = z @ self.components + self.mean
        x = torch.sigmoid(x) if self.inverse_sigmoid else x.clamp(0, 1)
        return x.view(-1, self.mask_size, self.mask_size)


class DCTMaskCodec(nn.Module):
    """Lowest-frequency 2-D DCT-II coefficients of the S x S mask, in zig-zag order; no fitting."""

    def __init__(self, mask_size: int, dim: int):
        super().__init__()
        self.mask_size, self.dim = mask_size, dim
        n = mask_size
        k = torch.arange(n, dtype=torch.float64)
        basis = torch.cos(math.pi * (k[None, :] + 0.5) * k[:, None] / n)  # (freq, pos)
        basis[0] *= math.sqrt(1 / n)
        basis[1:] *= math.sqrt(2 / n)
        order = sorted(((u, v) for u in range(n) for v in range(n)), key=lambda p: (p[0] + p[1], p[0]))[:dim]
        # each kept coefficient is an orthonormal S*S vector: outer product of two 1-D bases
        rows = torch.stack([torch.outer(basis[u], basis[v]).flatten() for u, v in order])
        self.register_buffer("components", rows.float())
        self.register_buffer("fitted", torch.ones((), dtype=torch.bool))

    def fit(self, masks: Tensor) -> DCTMaskCodec:
        return self

    def encode(self, masks: Tensor) -> Tensor:
        return masks.flatten(1).float() @ self.components.T

    def decode(self, codes: Tensor) -> Tensor:
        return (codes.float() @ self.components).clamp(0, 1).view(-1, self.mask_size, self.mask_size)


def build_mask_codec(
    kind: str, mask_size: int, dim: int, whiten: bool = True, inverse_sigmoid: bool = True
) -> nn.Module:
    if kind == "pca":
        return PCAMaskCodec(mask_size, dim, whiten, inverse_sigmoid)
    if kind == "dct":
        return DCTMaskCodec(mask_size, dim)
    raise ValueError(f"unknown mask codec {kind!r}; expected 'pca' or 'dct'")


def fit_mask_encoder(
    masks, boxes=None, mask_size: int = 112, dim: int = 256, whiten: bool = True, inverse_sigmoid: bool = True
) -> PCAMaskCodec:
    """Fit the PCA codec on training masks.

    ``masks``: full-image masks (N, H, W) with their xyxy ``boxes`` (N, 4), or box-aligned masks
    (N, mask_size, mask_size) with ``boxes=None``. Tensors or numpy arrays.
    """
    from ..ops.masks import crop_and_resize

    masks = torch.as_tensor(masks)
    if boxes is not None:
        masks = (crop_and_resize(masks, torch.as_tensor(boxes, dtype=torch.float32), mask_size) > 0.5).float()
    elif masks.shape[-2:] != (mask_size, mask_size):
        raise ValueError(f"box-aligned masks must be {mask_size}x{mask_size}; pass boxes to crop full masks")
    return PCAMaskCodec(mask_size, dim, whiten, inverse_sigmoid).fit(masks.float())
