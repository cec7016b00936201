"""Box-aware self-attention among proposals (HeadConfig.box_aware_attention)."""
import pytest
import torch
from torch import nn

from istr_core import build_model
from istr_core.model.box_attention import BoxAwareAttentionInputs, box_sine_embedding, intersection_over_first
from tests.conftest import tiny_model_options


def test_intersection_over_first_by_hand():
    boxes = torch.tensor([[[0.0, 0, 10, 10], [5, 0, 15, 10], [0, 0, 20, 20], [30, 30, 40, 40]]])
    iof = intersection_over_first(boxes)[0]
    assert iof[0, 1] == pytest.approx(0.5)  # half of box 0 is inside box 1
    assert iof[0, 2] == pytest.approx(1.0)  # box 0 lies inside box 2 ...
    assert iof[2, 0] == pytest.approx(0.25)  # ... which box 0 covers a quarter of
    assert iof[0, 3] == 0 and torch.allclose(iof.diagonal(), torch.ones(4))


def test_box_embedding_separates_boxes_and_ignores_image_scale():
    boxes = torch.tensor([[[0.0, 0, 10, 10], [10, 0, 20, 10]]])
    emb = box_sine_embedding(boxes, torch.tensor([[100.0, 50, 100, 50]]), 32)
    assert emb.shape == (1, 2, 32) and not torch.allclose(emb[0, 0], emb[0, 1])
    doubled = box_sine_embedding(boxes * 2, torch.tensor([[200.0, 100, 200, 100]]), 32)
    assert torch.allclose(emb, doubled, atol=1e-6)  # relative to the image, not pixels
    with pytest.raises(ValueError, match="divisible by 8"):
        box_sine_embedding(boxes, torch.tensor([[100.0, 50, 100, 50]]), 12)


def test_sharp_heads_attend_only_to_overlapping_proposals():
    torch.manual_seed(0)
    inputs, attn = BoxAwareAttentionInputs(16, 2), nn.MultiheadAttention(16, 2, batch_first=True)
    with torch.no_grad():
        inputs.iof_tau.fill_(10.0)
    # proposals 0 and 1 share a box; proposal 2 is far away
    boxes = torch.tensor([[[0.0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]]])
    whwh = torch.tensor([[64.0, 64, 64, 64]])

    def out(features):
        qk, bias = inputs(features, boxes, whwh)
        return attn(qk, qk, features, attn_mask=bias)[0]

    features = torch.randn(1, 3, 16)
    changed_far, changed_near = features.clone(), features.clone()
    changed_far[0, 2] += 5.0
    changed_near[0, 1] += 5.0
    assert torch.allclose(out(features)[0, 0], out(changed_far)[0, 0], atol=1e-5)
    assert not torch.allclose(out(features)[0, 0], out(changed_near)[0, 0], atol=1e-3)


def test_group_mask_still_isolates_groups():
    inputs = BoxAwareAttentionInputs(16, 2)
    boxes = torch.tensor([[[0.0, 0, 10, 10], [0, 0, 10, 10]]])
    mask = torch.tensor([[False, True], [True, False]])
    _, bias = inputs(torch.zeros(1, 2, 16), boxes, torch.tensor([[64.0, 64, 64, 64]]), mask)
    assert bias.shape == (2, 2, 2)
    assert torch.isinf(bias[:, 0, 1]).all() and torch.isfinite(bias[:, 0, 0]).all()


def test_model_with_box_aware_attention_trains_and_predicts():
    torch.manual_seed(0)
    model = build_model(2, "resnet18", **{**tiny_model_options(), "box_aware_attention": True,
                                          "num_aux_proposals": 6})
    model.codec.fit((torch.rand(32, 28, 28) > 0.5).float())
    masks = torch.zeros(1, 90, 120, dtype=torch.uint8)
    masks[0, 10:40, 20:60] = 1
    target = {"boxes": torch.tensor([[20.0, 10, 60, 40]]), "labels": torch.tensor([1]), "masks": masks}
    model.train()
    losses = model([torch.rand(3, 90, 120)], [target])
    sum(losses.values()).backward()
    tau_grad = model.head.stages[1].box_attention.iof_tau.grad
    assert tau_grad is not None and tau_grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        det = model([torch.rand(3, 90, 120)])[0]
    assert det["masks"].shape[1:] == (1, 90, 120)
