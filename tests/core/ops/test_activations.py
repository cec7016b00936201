"""The exp-based ELU must be nn.ELU: same values and gradients, input untouched, in fp32 and bf16."""

from __future__ import annotations

import pytest
import torch

from istr_core.ops.activations import ELU


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.bfloat16, 1e-2)])
def test_exp_elu_equals_nn_elu_in_values_and_gradients(dtype, tol):
    torch.manual_seed(0)
    x = (torch.randn(4000, 33) * 3).to(dtype)
    x[0, :3] = torch.tensor([0.0, -1e-4, 1e-4])  # around zero, where exp(x) - 1 could lose precision
    before = x.clone()
    grad = torch.randn_like(x)
    ours_in, ref_in = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours, ref = ELU()(ours_in), torch.nn.ELU()(ref_in)
    ours.backward(grad)
    ref.backward(grad)
    assert ours.dtype == dtype
    torch.testing.assert_close(ours, ref, atol=tol, rtol=tol)
    torch.testing.assert_close(ours_in.grad, ref_in.grad, atol=tol, rtol=tol)
    # small negative inputs keep their value to 1e-4 relative (exp(x) - 1 in bf16 would be off by 20%)
    small = torch.tensor([-1e-3, -1e-2, -0.1], dtype=dtype)
    torch.testing.assert_close(
        ELU()(small), torch.nn.functional.elu(small.double()).to(dtype), rtol=max(tol, 1e-4), atol=0.0
    )
    assert torch.equal(x, before)


def test_the_head_uses_the_exp_elu():
    from istr_core import build_model
    from tests.conftest import tiny_model_options

    model = build_model(2, "resnet18", **tiny_model_options())
    kinds = {type(m) for m in model.modules()}
    assert ELU in kinds and torch.nn.ELU not in kinds
