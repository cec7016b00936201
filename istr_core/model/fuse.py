"""Fold BatchNorm into the preceding convolution for inference.

In eval mode a BatchNorm (or FrozenBatchNorm) after a bias-free conv is an affine map per channel,
so it can be merged into the conv's weights and bias: one pass over the feature map instead of two.
The model computes the same function (up to float rounding) but can no longer train, so this is
applied only to inference copies (:class:`istr_core.predict.segmenter.Segmenter`).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

_NORMS = (nn.BatchNorm2d, FrozenBatchNorm2d)


@torch.no_grad()
def fold_conv_norm(conv: nn.Conv2d, norm: nn.Module) -> None:
    """conv <- norm(conv(.)) in place (norm must be in its eval behaviour: running statistics)."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    conv.weight.mul_(scale.view(-1, 1, 1, 1))
    conv.bias = nn.Parameter((bias - norm.running_mean) * scale + norm.bias, requires_grad=False)


def _pairs(module: nn.Module):
    """(parent, conv name, norm name) for the conv->norm pairs torchvision's ResNet applies back to back:
    ``convN``/``bnN`` attributes of blocks and the stem, and ``downsample`` = Sequential(conv, norm)."""
    children = dict(module.named_children())
    for name, child in children.items():
        if isinstance(child, nn.Conv2d) and name.startswith("conv"):
            norm = "bn" + name[len("conv") :]
            if isinstance(children.get(norm), _NORMS):
                yield module, name, norm
    if (
        isinstance(module, nn.Sequential)
        and len(module) == 2
        and isinstance(module[0], nn.Conv2d)
        and isinstance(module[1], _NORMS)
    ):
        yield module, "0", "1"


def fold_batch_norms(model: nn.Module) -> int:
    """Fold every conv->BatchNorm pair of ``model`` in place; returns how many were folded."""
    if any(isinstance(m, nn.BatchNorm2d) and m.training for m in model.modules()):
        raise RuntimeError("fold_batch_norms needs the model in eval mode (BatchNorm running statistics)")
    found = [pair for m in model.modules() for pair in _pairs(m)]
    for parent, conv_name, norm_name in found:
        fold_conv_norm(getattr(parent, conv_name), getattr(parent, norm_name))
        setattr(parent, norm_name, nn.Identity())
    return len(found)
