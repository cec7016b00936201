"""Contrastive denoising queries: positives near their instance, negatives farther, groups isolated,
losses that train the model, and nothing of it at inference."""

from __future__ import annotations

import torch
from torchvision.ops import box_iou

from istr_core import build_model
from istr_core.model.denoising import make_denoising_queries
from istr_core.model.matcher import MatchTarget
from tests.conftest import tiny_model_options


def _target(boxes, labels, w=200, h=100):
    boxes = torch.tensor(boxes, dtype=torch.float32)
    n = len(boxes)
    return MatchTarget(
        torch.tensor(labels),
        boxes,
        torch.zeros(n, 8, 8),
        torch.zeros(n, 4),
        torch.tensor([w, h, w, h], dtype=torch.float32),
    )


def test_positives_stay_near_their_instance_and_negatives_move_farther():
    gen = torch.Generator().manual_seed(0)
    boxes = [[20, 20, 60, 60], [100, 30, 140, 90], [150, 10, 190, 50]] * 20
    target = _target(boxes, [0, 1, 2] * 20)
    dn = make_denoising_queries(
        [target], torch.randn(3, 16), num_groups=2, box_noise=0.4, label_noise=0.0, generator=gen
    )
    p = 60
    assert dn.boxes.shape == (1, 2 * 2 * p, 4) and dn.features.shape == (1, 4 * p, 16)
    assert dn.group.tolist() == [0] * 2 * p + [1] * 2 * p
    src, tgt = dn.matches[0]
    assert src.tolist() == list(range(p)) + list(range(2 * p, 3 * p))  # the positive slots of each group
    assert tgt.tolist() == list(range(p)) * 2
    iou_pos = box_iou(dn.boxes[0, src], target.boxes[tgt]).diagonal()
    neg = torch.cat([torch.arange(p, 2 * p), torch.arange(3 * p, 4 * p)])
    iou_neg = box_iou(dn.boxes[0, neg], target.boxes[neg % p]).diagonal()
    assert (
        iou_pos.min() > 0.3 and iou_neg.max() < iou_pos.min() + 0.1 and iou_neg.mean() < iou_pos.mean() - 0.3
    )
    b = dn.boxes[0]
    assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all() and b.min() >= 0 and b[:, 2].max() <= 200


def test_images_with_fewer_instances_fill_the_slots_with_negatives_only():
    gen = torch.Generator().manual_seed(1)
    busy = _target([[10, 10, 30, 30], [40, 10, 60, 30], [70, 10, 90, 30]], [0, 0, 0])
    sparse = _target([[10, 10, 50, 50]], [1])
    empty = _target(torch.zeros(0, 4).tolist(), [])
    dn = make_denoising_queries([busy, sparse, empty], torch.randn(2, 8), 1, 1.0, 0.0, generator=gen)
    assert dn.boxes.shape == (3, 6, 4)
    assert [m[0].tolist() for m in dn.matches] == [[0, 1, 2], [0], []]
    assert [m[1].tolist() for m in dn.matches] == [[0, 1, 2], [0], []]
    assert torch.isfinite(dn.boxes).all()


def test_label_noise_replaces_some_labels():
    gen = torch.Generator().manual_seed(2)
    target = _target([[10, 10, 30, 30]] * 200, [0] * 200)
    emb = torch.eye(5)
    dn = make_denoising_queries([target], emb, 1, 1.0, label_noise=0.25, generator=gen)
    labels = dn.features[0].argmax(1)
    changed = (labels != 0).float().mean().item()
    assert 0.1 < changed < 0.3  # 25% drawn, a fifth of which land on class 0 again


def test_denoising_trains_its_embedding_and_leaves_inference_alone():
    torch.manual_seed(0)
    model = build_model(3, "resnet18", **tiny_model_options(), num_denoising_groups=1, score_threshold=0.0)
    model.codec.fit((torch.rand(64, 28, 28) > 0.5).float())
    masks = torch.zeros(2, 96, 120)
    masks[0, 10:50, 10:40], masks[1, 20:70, 30:60] = 1, 1
    target = {
        "boxes": torch.tensor([[10.0, 10, 40, 50], [30, 20, 60, 70]]),
        "labels": torch.tensor([0, 2]),
        "masks": masks,
    }
    images = [torch.rand(3, 96, 120), torch.rand(3, 96, 120)]
    losses = model.train()(images, [target, {k: v[:0] for k, v in target.items()}])
    sum(losses.values()).backward()
    grad = model.denoising_labels.weight.grad
    assert grad is not None and grad[0].abs().sum() > 0 and grad[2].abs().sum() > 0

    plain = build_model(3, "resnet18", **tiny_model_options(), num_denoising_groups=0, score_threshold=0.0)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("denoising_labels")}
    plain.load_state_dict(state)
    with torch.inference_mode():
        ours, theirs = model.eval()(images[:1]), plain.eval()(images[:1])
    for key in ("boxes", "scores", "labels", "masks"):
        torch.testing.assert_close(ours[0][key], theirs[0][key])


def test_the_main_groups_training_predictions_do_not_depend_on_the_denoising_queries():
    from tests.core.model.test_model import _targets

    torch.manual_seed(0)
    model = build_model(3, "resnet18", **tiny_model_options(), num_denoising_groups=1).train()
    model.codec.fit((torch.rand(64, 28, 28) > 0.5).float())
    outputs = []
    model.head.register_forward_hook(lambda mod, args, out: outputs.append(out[-1]))
    images, targets = _targets()
    n = model.proposal_boxes.num_embeddings + model.aux_proposal_boxes.num_embeddings
    with torch.no_grad():
        torch.manual_seed(1)
        model(images, targets)
        model.denoising_labels.weight.normal_()  # other denoising query features
        torch.manual_seed(1)
        model(images, targets)
    first, second = outputs
    assert first.class_logits.shape[1] > n  # the denoising queries were there
    torch.testing.assert_close(first.class_logits[:, :n], second.class_logits[:, :n])
    assert not torch.allclose(first.class_logits[:, n:], second.class_logits[:, n:])
