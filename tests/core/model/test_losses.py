import math

import pytest
import torch

from istr_core.model import losses as L


def test_focal_loss_hand_computed():
    # one proposal, two classes, target class 0; logit 0 -> p = 0.5 for both classes
    logits = torch.zeros(1, 2)
    value = L.focal_class_loss(logits, torch.tensor([0]), alpha=0.25, gamma=2.0)
    pos = 0.25 * 0.5**2 * math.log(2)  # target 1 on class 0
    neg = 0.75 * 0.5**2 * math.log(2)  # target 0 on class 1
    assert value.item() == pytest.approx(pos + neg, rel=1e-5)


def test_focal_loss_background_only():
    logits = torch.full((3, 2), -10.0)
    assert L.focal_class_loss(logits, torch.tensor([2, 2, 2]), 0.25, 2.0).item() < 1e-6


def test_l1_loss_is_normalised_by_image_size():
    pred = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    target = torch.tensor([[10.0, 0.0, 20.0, 10.0]])
    size = torch.tensor([[100.0, 50.0, 100.0, 50.0]])
    assert L.l1_box_loss(pred, target, size).item() == pytest.approx(0.1 + 0.1)


def test_giou_loss_hand_computed():
    pred = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    target = torch.tensor([[1.0, 1.0, 3.0, 3.0]])
    iou = 1 / 7
    giou = iou - (9 - 7) / 9  # enclosing box 3x3, union 7
    assert L.giou_loss(pred, target).item() == pytest.approx(1 - giou, rel=1e-5)
    assert L.giou_loss(target, target).item() == pytest.approx(0.0, abs=1e-6)


def test_embedding_loss_averages_dimensions():
    pred = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    target = torch.zeros(1, 4)
    assert L.embedding_loss(pred, target).item() == pytest.approx((1 + 4 + 9 + 16) / 4)


def test_dice_loss_hand_computed():
    pred = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    target = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    # 2*1 / (2 + 1)
    assert L.dice_loss(pred, target).item() == pytest.approx(1 - 2 / 3, rel=1e-4)
    assert L.dice_loss(target, target).item() == pytest.approx(0.0, abs=1e-4)
