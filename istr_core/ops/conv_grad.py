"""A convolution whose weight gradient is computed in the plain (NCHW) layout.

On CPUs without bf16 (AVX2), oneDNN's weight gradient of a channels-last convolution over a large
feature map with a small batch is slow: for the FPN's 128->128 3x3 output conv on 2 x 112x152 it
takes ~4x its forward, and the same gradient computed on NCHW copies of the input and the output
gradient (copies included) takes about half as long. The forward and the input gradient stay
channels-last, where they are fast (benchmarks/README.md, "Training step without bf16").
Same results up to float summation order (tests/core/ops/test_conv_grad.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# feature maps of at least this many pixels per image take the NCHW weight gradient; at the
# cpu-small training scale (shorter side <= 448) that is the stem and the stride-4 level
MIN_PIXELS = 8192


def _weight_grad_nchw(grad_out: Tensor, x: Tensor, weight: Tensor, conv: dict) -> Tensor:
    grad = torch.ops.aten.convolution_backward(
        grad_out.contiguous(), x.contiguous(), weight.contiguous(), None, conv["stride"],
        conv["padding"], conv["dilation"], False, [0, 0], conv["groups"], [False, True, False],
    )[1]  # fmt: skip
    channels_last = weight.is_contiguous(memory_format=torch.channels_last)
    return grad.contiguous(memory_format=torch.channels_last) if channels_last else grad


class _Conv2dNchwWeightGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, conv: dict) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.conv, ctx.has_bias = conv, bias is not None
        return F.conv2d(x, weight, bias, **conv)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, weight = ctx.saved_tensors
        c = ctx.conv
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad_out, x, weight, None, c["stride"], c["padding"], c["dilation"], False, [0, 0],
                c["groups"], [True, False, False],
            )[0]  # fmt: skip
        if ctx.needs_input_grad[1]:
            grad_w = _weight_grad_nchw(grad_out, x, weight, c)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None


class NchwGradConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` (same parameters and state-dict keys) that, while ``nchw_weight_grad`` is
    set, its weight needs a gradient, its channels-last input has at least :data:`MIN_PIXELS`
    pixels, it runs on the CPU and autocast is off, computes that gradient in the NCHW layout."""

    nchw_weight_grad: bool = False

    def forward(self, x: Tensor) -> Tensor:
        if (
            self.nchw_weight_grad
            and self.padding_mode == "zeros"
            and not isinstance(self.padding, str)
            and self.weight.requires_grad
            and torch.is_grad_enabled()
            and x.device.type == "cpu"  # measured on oneDNN only
            and not torch.is_autocast_enabled("cpu")  # bf16: oneDNN's own path, not measured here
            and x.shape[-2] * x.shape[-1] >= MIN_PIXELS
            and x.is_contiguous(memory_format=torch.channels_last)
        ):
            conv = {
                "stride": list(self.stride),
                "padding": list(self.padding),
                "dilation": list(self.dilation),
                "groups": self.groups,
            }
            return _Conv2dNchwWeightGrad.apply(x, self.weight, self.bias, conv)
        return super().forward(x)


def set_nchw_weight_grad(module: nn.Module, enabled: bool) -> int:
    """Make every ``nn.Conv2d`` inside ``module`` an :class:`NchwGradConv2d` in place (parameters
    and hooks kept) and switch the NCHW weight gradient on or off; returns how many convs."""
    n = 0
    for m in module.modules():
        if type(m) is nn.Conv2d:
            m.__class__ = NchwGradConv2d
        if isinstance(m, NchwGradConv2d):
            m.nchw_weight_grad = enabled
            n += 1
    return n
