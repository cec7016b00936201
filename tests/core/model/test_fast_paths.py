"""Every inference speed-up must give the outputs of the plain path (issue: speed without changing
results)."""

from __future__ import annotations

import pytest
import torch

from istr_core import build_model
from tests.conftest import tiny_model_options


@pytest.fixture
def model():
    torch.manual_seed(0)
    m = build_model(3, "resnet18", **tiny_model_options(), score_threshold=0.0)
    m.codec.fit((torch.rand(64, 28, 28) > 0.5).float())
    return m.eval()


def _run(model, images, mask_stages: str):
    model.set_fast_paths(deferred_masks=mask_stages == "deferred")
    with torch.inference_mode():
        return model(images)


def test_deferred_mask_branch_equals_computing_it_for_every_proposal(model):
    images = [torch.rand(3, 96, 120), torch.rand(3, 80, 64)]
    plain, fast = _run(model, images, "last"), _run(model, images, "deferred")
    assert model.head.mask_pooler is not None  # the branch being deferred exists in this model
    for p, f in zip(plain, fast, strict=True):
        assert len(p["scores"]) > 0
        for key in ("boxes", "labels", "scores"):
            torch.testing.assert_close(f[key], p[key])
        torch.testing.assert_close(f["masks"], p["masks"], atol=1e-4, rtol=1e-4)


def test_channels_last_input_gives_the_plain_layouts_outputs(model):
    images = [torch.rand(3, 96, 120), torch.rand(3, 80, 64)]
    assert model.fast_paths.channels_last  # the default being checked
    fast = _run(model, images, "deferred")
    model.set_fast_paths(channels_last=False)
    plain = _run(model, images, "deferred")
    for p, f in zip(plain, fast, strict=True):
        assert len(p["scores"]) > 0 and torch.equal(p["labels"], f["labels"])
        assert torch.allclose(p["scores"], f["scores"], atol=1e-4)
        assert torch.allclose(p["boxes"], f["boxes"], atol=1e-2)
        assert torch.allclose(p["masks"], f["masks"], atol=1e-3)


def test_deferred_path_skips_the_mask_branch_for_dropped_proposals(model):
    calls = []
    model.head.mask_pooler.register_forward_hook(lambda mod, args, out: calls.append(out.shape[0]))
    model.detections_per_image = 3
    _run(model, [torch.rand(3, 96, 96)], "deferred")
    assert calls and max(calls) <= 3  # only the kept detections were pooled at mask resolution
    calls.clear()
    _run(model, [torch.rand(3, 96, 96)], "last")
    assert max(calls) == model.proposal_boxes.num_embeddings


def test_unknown_mask_stage_mode_is_refused(model):
    with torch.inference_mode():
        encoded = model.encode([torch.rand(3, 64, 64)])
        with pytest.raises(ValueError, match="mask_stages"):
            model.refine(encoded, *model.learned_proposals(encoded.sizes), "sometimes")


@pytest.mark.parametrize("norm", ["bn", "frozen_bn"])
def test_folding_batch_norms_keeps_outputs(norm):
    torch.manual_seed(0)
    m = build_model(3, "resnet18", **tiny_model_options(), score_threshold=0.0, norm=norm)
    m.codec.fit((torch.rand(64, 28, 28) > 0.5).float())
    with torch.no_grad():  # non-trivial statistics, so folding has something to get wrong
        for mod in m.backbone.modules():
            if hasattr(mod, "running_var"):
                mod.running_mean.uniform_(-0.5, 0.5), mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5), mod.bias.uniform_(-0.2, 0.2)
    images = [torch.rand(3, 96, 120)]
    plain = _run(m.eval(), images, "deferred")
    m.fuse_for_inference()
    assert not any(
        isinstance(x, (torch.nn.BatchNorm2d,)) or type(x).__name__ == "FrozenBatchNorm2d"
        for x in m.backbone.modules()
    )
    fused = _run(m, images, "deferred")
    for key in ("boxes", "labels", "scores"):
        torch.testing.assert_close(fused[0][key], plain[0][key], atol=1e-3, rtol=1e-3)
    # mask probabilities: the folded convolutions' rounding reaches ~2e-3 on a few pixels of this random
    # model (1.3e-3 with nn.ELU, 2.1e-3 with the exp ELU); a folding mistake moves them by far more
    torch.testing.assert_close(fused[0]["masks"], plain[0]["masks"], atol=5e-3, rtol=1e-3)


def test_fused_model_refuses_to_train(model):
    model.fuse_for_inference().train()
    with pytest.raises(RuntimeError, match="fused for inference"):
        model([torch.rand(3, 64, 64)], [{}])


def _train_step(model, mask_stages: str, images, targets):
    model.train()
    model.set_fast_paths(matched_mask_gradients=mask_stages == "matched")
    model.zero_grad()
    torch.manual_seed(0)  # the denoising queries' noise: the same in both runs
    losses = model(images, targets)
    sum(losses.values()).backward()
    return {k: v.detach() for k, v in losses.items()}, {
        n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None
    }


def test_mask_gradient_for_matched_proposals_only_equals_the_plain_training_step(model):
    """Training runs the 28x28 mask branch with gradient only for matched proposals: same losses,
    same gradients for every parameter (the hybrid auxiliary and the denoising groups included)."""
    import copy

    from tests.core.model.test_model import _targets

    images, targets = _targets()
    assert model.head.mask_pooler is not None and model.aux_proposal_boxes is not None
    assert model.denoising_labels is not None
    plain_losses, plain_grads = _train_step(copy.deepcopy(model), "all", images, targets)
    calls = []
    model.head.mask_pooler.register_forward_hook(
        lambda mod, args, out: calls.append((out.shape[0], torch.is_grad_enabled()))
    )
    fast_losses, fast_grads = _train_step(model, "matched", images, targets)
    for k in plain_losses:
        torch.testing.assert_close(fast_losses[k], plain_losses[k], atol=1e-5, rtol=1e-4)
    assert plain_grads.keys() == fast_grads.keys() and plain_grads
    for (
        name,
        grad,
    ) in plain_grads.items():  # equal up to float summation order, relative to each tensor's scale
        scale = grad.abs().max().item()
        torch.testing.assert_close(fast_grads[name], grad, atol=1e-5 * scale + 1e-7, rtol=0, msg=name)
    with_grad = [n for n, enabled in calls if enabled]
    denoising = 2 * max(len(t["labels"]) for t in targets)
    all_proposals = len(images) * (
        model.proposal_boxes.num_embeddings + model.aux_proposal_boxes.num_embeddings + denoising
    )
    assert with_grad and max(with_grad) < all_proposals  # only matched RoIs pooled with gradient


def test_batched_mask_encoding_equals_encoding_each_mask():
    """`istr segment` encodes all masks of an image in one call; the annotations must be the ones
    per-mask encoding gives (RLE, tight box, area), and empty masks must be dropped."""
    import numpy as np

    from istr_core.data.rle import mask_bbox_xywh, mask_to_rle, masks_to_annotations

    rng = np.random.default_rng(0)
    masks = [rng.random((37, 53)) > t for t in (0.2, 0.5, 0.97, 2.0)]  # the last one is empty
    for y, x in ((36, 52), (0, 0), (0, 52), (36, 0)):  # single corner pixels
        masks.append(np.zeros((37, 53), bool))
        masks[-1][y, x] = True
    masks += [np.ones((37, 53), bool), np.pad(np.ones((5, 7), bool), ((3, 29), (40, 6)))]
    got = masks_to_annotations(masks)
    for m, g in zip(masks, got, strict=True):
        if not m.any():
            assert g is None
            continue
        rle, bbox, area = g
        assert rle == mask_to_rle(m) and bbox == mask_bbox_xywh(m) and area == float(m.sum())
    assert masks_to_annotations([]) == []


def test_nchw_weight_grad_equals_the_plain_training_step(model, monkeypatch):
    """The backbone's weight gradients computed in NCHW (the default): same losses, same gradients
    as oneDNN's channels-last ones, for every parameter."""
    import copy

    from istr_core.ops import conv_grad
    from tests.core.model.test_model import _targets

    monkeypatch.setattr(conv_grad, "MIN_PIXELS", 0)  # the tiny images' maps take the fast path too
    images, targets = _targets()
    assert model.fast_paths.nchw_weight_grad  # the default being checked
    plain_model = copy.deepcopy(model).set_fast_paths(nchw_weight_grad=False)
    plain_losses, plain_grads = _train_step(plain_model, "matched", images, targets)
    calls = []
    monkeypatch.setattr(
        conv_grad, "_weight_grad_nchw", lambda *a, f=conv_grad._weight_grad_nchw: calls.append(1) or f(*a)
    )
    fast_losses, fast_grads = _train_step(model, "matched", images, targets)
    assert calls  # the NCHW weight gradient ran
    for k in plain_losses:
        torch.testing.assert_close(fast_losses[k], plain_losses[k], atol=1e-5, rtol=1e-4)
    assert plain_grads.keys() == fast_grads.keys() and plain_grads
    for name, grad in plain_grads.items():
        scale = grad.abs().max().item()
        torch.testing.assert_close(fast_grads[name], grad, atol=1e-5 * scale + 1e-7, rtol=0, msg=name)
