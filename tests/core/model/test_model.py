"""The torchvision detection contract of build_model, on a tiny model."""

import pytest
import torch

from istr_core import build_model
from tests.conftest import tiny_model_options

LOSS_KEYS = {"loss_class", "loss_l1", "loss_giou", "loss_embedding", "loss_dice"}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = build_model(3, "resnet18", **tiny_model_options())
    m.codec.fit((torch.rand(32, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.5).float())
    return m


def _targets():
    masks = torch.zeros(2, 90, 120, dtype=torch.uint8)
    masks[0, 10:40, 20:60] = 1
    masks[1, 50:85, 70:115] = 1
    with_objects = {
        "boxes": torch.tensor([[20.0, 10, 60, 40], [70, 50, 115, 85]]),
        "labels": torch.tensor([0, 2]),
        "masks": masks,
    }
    empty = {
        "boxes": torch.zeros(0, 4),
        "labels": torch.zeros(0, dtype=torch.long),
        "masks": torch.zeros(0, 64, 64, dtype=torch.uint8),
    }
    return [torch.rand(3, 90, 120), torch.rand(3, 64, 64)], [with_objects, empty]


def test_train_mode_returns_finite_loss_dict_and_gradients(model):
    model.train()
    images, targets = _targets()
    losses = model(images, targets)
    assert set(losses) == LOSS_KEYS
    assert all(torch.isfinite(v) and v.ndim == 0 for v in losses.values())
    model.zero_grad()
    sum(losses.values()).backward()
    head_grad = model.head.stages[0].class_logits.weight.grad
    assert head_grad is not None and head_grad.abs().sum() > 0
    assert model.proposal_boxes.weight.grad is not None


def test_train_mode_requires_targets(model):
    model.train()
    with pytest.raises(ValueError, match="targets"):
        model([torch.rand(3, 32, 32)])


def test_eval_mode_returns_detections_in_original_coordinates(model):
    model.eval()
    images = [torch.rand(3, 90, 120), torch.rand(3, 300, 41)]
    with torch.no_grad():
        outputs = model(images)
    assert len(outputs) == 2
    for image, out in zip(images, outputs, strict=True):
        h, w = image.shape[-2:]
        n = out["boxes"].shape[0]
        assert set(out) == {"boxes", "labels", "scores", "masks"}
        assert (
            out["masks"].shape == (n, 1, h, w) and out["labels"].shape == (n,) and out["scores"].shape == (n,)
        )
        assert (
            (out["boxes"][:, 0::2] <= w).all()
            and (out["boxes"][:, 1::2] <= h).all()
            and (out["boxes"] >= 0).all()
        )
        assert ((out["masks"] >= 0) & (out["masks"] <= 1)).all()
        assert (out["labels"] < 3).all()
        assert torch.all(out["scores"][:-1] >= out["scores"][1:])


def test_eval_detections_are_capped_and_thresholded(model):
    model.eval()
    model.score_threshold = 0.0
    model.detections_per_image = 7
    try:
        with torch.no_grad():
            out = model([torch.rand(3, 64, 64)])[0]
        assert out["boxes"].shape[0] == 7
        model.score_threshold = 1.0
        with torch.no_grad():
            assert model([torch.rand(3, 64, 64)])[0]["boxes"].shape[0] == 0
    finally:
        model.score_threshold, model.detections_per_image = 0.05, 100


def test_build_model_options_and_errors():
    m = build_model(5, "resnet18", preset="cpu-small", num_proposals=20, num_stages=2)
    assert m.num_classes == 5 and m.proposal_boxes.weight.shape == (20, 4) and len(m.head.stages) == 2
    assert m.config.head.num_proposals == 20
    with pytest.raises(TypeError, match="unknown model option"):
        build_model(5, "resnet18", not_an_option=1)
    with pytest.raises(ValueError, match="backbone"):
        build_model(5, "vgg16")


def test_paper_preset_has_reference_hyper_parameters():
    cfg = build_model(80, "resnet50").config
    h = cfg.head
    assert (h.num_proposals, h.num_stages, h.hidden_dim, h.num_heads, h.dim_feedforward, h.dim_dynamic) == (
        300,
        6,
        256,
        8,
        2048,
        64,
    )
    assert (h.box_pooler_size, h.mask_pooler_size) == (7, 28)
    lo = cfg.loss
    assert (lo.class_weight, lo.l1_weight, lo.giou_weight, lo.embedding_weight, lo.dice_weight) == (
        2,
        5,
        2,
        1,
        5,
    )
    assert (cfg.mask_codec.mask_size, cfg.mask_codec.dim) == (112, 256)
    assert (cfg.input.min_size, cfg.input.max_size) == (800, 1333)


def test_unfitted_pca_codec_refuses_to_train():
    m = build_model(2, "resnet18", **tiny_model_options()).train()
    images, targets = _targets()
    targets[0]["labels"] = torch.tensor([0, 1])
    with pytest.raises(RuntimeError, match="not fitted"):
        m(images, targets)


def test_hybrid_matching_groups_are_isolated_and_absent_at_inference():
    torch.manual_seed(0)
    opts = {**tiny_model_options(), "num_aux_proposals": 6, "num_denoising_groups": 0}
    hybrid = build_model(2, "resnet18", **opts).eval()
    hybrid.codec.fit((torch.rand(32, 28, 28) > 0.5).float())
    plain = build_model(2, "resnet18", **{**opts, "num_aux_proposals": 0}).eval()
    missing, unexpected = plain.load_state_dict(hybrid.state_dict(), strict=False)
    assert not missing and set(unexpected) == {"aux_proposal_features.weight", "aux_proposal_boxes.weight"}
    image = [torch.rand(3, 80, 96)]
    with torch.no_grad():
        a, b = hybrid(image)[0], plain(image)[0]
    assert torch.equal(a["boxes"], b["boxes"])  # inference never sees the auxiliary group
    # in training, the main group's predictions do not depend on the auxiliary group
    n = hybrid.proposal_boxes.num_embeddings
    feats = hybrid.backbone(torch.rand(1, 3, 96, 96))
    boxes = torch.cat(
        [
            hybrid._proposals(hybrid.proposal_boxes, [(96, 96)]),
            hybrid._proposals(hybrid.aux_proposal_boxes, [(96, 96)]),
        ],
        1,
    )
    group = torch.arange(n + 6) >= n
    mask = group[:, None] != group[None, :]
    pro = torch.cat([hybrid.proposal_features.weight, hybrid.aux_proposal_features.weight])[None]
    with torch.no_grad():
        out1 = hybrid.head(feats, boxes, pro, [(96, 96)], attn_mask=mask)[-1].proposals(0, n)
        out2 = hybrid.head(
            feats,
            boxes,
            pro + torch.cat([torch.zeros(n, pro.shape[-1]), torch.randn(6, pro.shape[-1])]),
            [(96, 96)],
            attn_mask=mask,
        )[-1].proposals(0, n)
    assert torch.allclose(out1.class_logits, out2.class_logits, atol=1e-5)
    hybrid.train()
    images, targets = _targets()
    targets[0]["labels"] = torch.tensor([0, 1])
    losses = hybrid(images, targets)
    assert set(losses) == LOSS_KEYS and all(torch.isfinite(v) for v in losses.values())


def test_one_detection_per_proposal_with_its_best_class():
    from istr_core.model.postprocess import select_detections

    # proposal 0 is likely both classes (a re-headed model's copied rows), proposal 1 only class 1
    logits = torch.tensor([[2.0, 2.0], [-1.0, 1.0], [-5.0, -5.0]])
    boxes = torch.arange(12.0).reshape(3, 4)
    scores, labels, kept_boxes, proposal = select_detections(logits, boxes, k=3, score_threshold=0.05)
    assert proposal.tolist() == [0, 1]  # each proposal once; the background one dropped
    assert labels.tolist()[1] == 1
    assert torch.allclose(scores, torch.tensor([2.0, 1.0]).sigmoid())
    assert torch.equal(kept_boxes, boxes[:2])
    assert select_detections(logits, boxes, k=1, score_threshold=0.05)[3].tolist() == [0]
    # COCO evaluation ranks (proposal, class) pairs: proposal 0 once per class
    _, labels, _, proposal = select_detections(logits, boxes, k=3, score_threshold=0.05, class_pairs=True)
    assert sorted(zip(proposal.tolist(), labels.tolist(), strict=True)) == [(0, 0), (0, 1), (1, 1)]


def test_the_zoom_brings_the_median_object_to_the_target_side():
    from istr_core.model.transform import zoom_for_objects

    # 8 px objects would need 4x: capped at 3; 16 px: 2x; large or none: not zoomed
    assert zoom_for_objects([8, 8, 9], 96, 128, 96, 160) == 3.0
    assert zoom_for_objects([16, 16, 16], 96, 128, 96, 160) == 2.0
    assert zoom_for_objects([16, 16, 16], 192, 256, 96, 160) == 3.0  # the model halves this image
    assert zoom_for_objects([40, 50], 96, 128, 96, 160) == 1.0
    assert zoom_for_objects([28, 28], 96, 128, 96, 160) == 1.0  # 1.14x: under MIN_ZOOM, whole
    assert zoom_for_objects([], 96, 128, 96, 160) == 1.0
