"""The NCHW weight gradient must be the plain convolution's gradient (issue 28: speed without
changing results)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from istr_core.ops import conv_grad
from istr_core.ops.conv_grad import NchwGradConv2d, set_nchw_weight_grad


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=3, padding=1),
        dict(kernel_size=1, bias=False),
        dict(kernel_size=7, stride=2, padding=3, bias=False),  # the ResNet stem
        dict(kernel_size=3, padding=2, dilation=2, groups=2),
    ],
)
def test_nchw_weight_grad_equals_the_plain_convolution(kwargs, monkeypatch):
    monkeypatch.setattr(conv_grad, "MIN_PIXELS", 0)
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(4, 6, **kwargs)).to(memory_format=torch.channels_last)
    fast = copy.deepcopy(plain)
    assert set_nchw_weight_grad(fast, True) == 1 and isinstance(fast[0], NchwGradConv2d)
    x = torch.randn(2, 4, 13, 17).contiguous(memory_format=torch.channels_last)
    grad_out = torch.randn(plain(x).shape)
    grads = []
    for model in (plain, fast):
        xi = x.clone().requires_grad_(True)
        model(xi).backward(grad_out)
        grads.append([xi.grad] + [p.grad for p in model.parameters()])
    assert fast[0].weight.grad.is_contiguous(memory_format=torch.channels_last)  # the weight's layout
    for p, f in zip(*grads, strict=True):
        torch.testing.assert_close(f, p, atol=1e-5, rtol=1e-4)


def test_the_plain_forward_is_kept_where_it_does_not_apply(monkeypatch):
    conv = nn.Conv2d(3, 3, 3, padding=1)
    set_nchw_weight_grad(conv, True)
    calls = []
    monkeypatch.setattr(conv_grad._Conv2dNchwWeightGrad, "apply", lambda *a: calls.append(a))
    conv(torch.randn(1, 3, 8, 8).contiguous(memory_format=torch.channels_last))  # < MIN_PIXELS
    conv(torch.randn(1, 3, 96, 96))  # NCHW input
    big = torch.randn(1, 3, 96, 96).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        conv(big)
    with torch.autocast("cpu", torch.bfloat16):
        conv(big).float().sum().backward()  # bf16 autocast: oneDNN's path, and it trains
    assert not calls
    conv(torch.randn(1, 3, 96, 96).contiguous(memory_format=torch.channels_last))
    assert len(calls) == 1
    set_nchw_weight_grad(conv, False)
    conv(torch.randn(1, 3, 96, 96).contiguous(memory_format=torch.channels_last))
    assert len(calls) == 1
