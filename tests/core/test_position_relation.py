"""The position-relation bias on proposal self-attention (HeadConfig.position_relation)."""
import math

import pytest
import torch

from istr_core import build_model
from istr_core.model.position_relation import PositionRelation, box_relation, sine_embedding
from tests.conftest import tiny_model_options


def test_box_relation_is_offset_over_query_size_and_log_scale_ratio():
    boxes = torch.tensor([[[0.0, 0, 10, 20], [10, 0, 30, 40]]])  # centres (5,10), (20,20); sizes 10x20, 20x40
    rel = box_relation(boxes)
    assert rel.shape == (1, 2, 2, 4)
    assert torch.allclose(rel[0, 0, 0], torch.zeros(4))
    expected = torch.tensor([math.log1p(15 / 10), math.log1p(10 / 20), math.log(0.5), math.log(0.5)])
    assert torch.allclose(rel[0, 0, 1], expected, atol=1e-6)
    # from the larger box's side the offset is measured in its own (larger) size
    assert torch.allclose(rel[0, 1, 0], torch.tensor([math.log1p(15 / 20), math.log1p(10 / 40), math.log(2), math.log(2)]), atol=1e-6)


def test_sine_embedding_layout():
    values = torch.tensor([[0.0, 1.0]])
    emb = sine_embedding(values, num_feats=4, scale=1.0)
    assert emb.shape == (1, 8)
    # first value 0: sin 0, cos 1 at each frequency; second value 1 at frequency 1: sin 1, cos 1
    assert torch.allclose(emb[0, :4], torch.tensor([0.0, 1.0, 0.0, 1.0]))
    assert torch.allclose(emb[0, 4:6], torch.tensor([math.sin(1.0), math.cos(1.0)]))


def test_bias_has_one_map_per_head_and_depends_on_geometry():
    torch.manual_seed(0)
    relation = PositionRelation(num_heads=4)
    boxes = torch.tensor([[[0.0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 90, 90]]]).repeat(2, 1, 1)
    bias = relation(boxes)
    assert bias.shape == (2 * 4, 3, 3) and (bias >= 0).all()
    moved = boxes.clone()
    moved[:, 2] += 5
    assert not torch.allclose(relation(moved), bias)


def test_stage_attention_depends_on_boxes_only_with_position_relation():
    """Without the bias, moving the boxes cannot change what the proposals attend to; with it, it must.
    Groups of hybrid matching stay invisible to each other either way."""
    torch.manual_seed(0)
    for with_relation in (False, True):
        model = build_model(2, "resnet18", **tiny_model_options(), position_relation=with_relation)
        stage = model.head.stages[0]
        boxes = torch.rand(1, 6, 2) * 40
        boxes = torch.cat([boxes, boxes + 10 + torch.rand(1, 6, 2) * 20], -1)
        group = torch.arange(6) >= 3
        group_mask = group[:, None] != group[None, :]
        mask = stage._attention_mask(boxes, group_mask)
        moved = stage._attention_mask(boxes * 1.7 + 3, group_mask)
        if not with_relation:
            assert mask is group_mask and moved is group_mask
            continue
        assert mask.shape == (stage.self_attn.num_heads, 6, 6)
        assert torch.isinf(mask[:, group_mask]).all() and torch.isfinite(mask[:, ~group_mask]).all()
        features = torch.randn(1, 6, stage.self_attn.embed_dim)
        out = stage.self_attn(features, features, features, attn_mask=mask, need_weights=False)[0]
        out_moved = stage.self_attn(features, features, features, attn_mask=moved, need_weights=False)[0]
        assert not torch.allclose(out, out_moved)


def test_model_with_position_relation_trains_and_loads_from_its_config(tmp_path):
    from istr_core.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = build_model(2, "resnet18", **tiny_model_options(), position_relation=True)
    model.codec.fit((torch.rand(32, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.5).float())
    masks = torch.zeros(1, 64, 64, dtype=torch.uint8)
    masks[0, 10:40, 20:50] = 1
    losses = model.train()([torch.rand(3, 64, 64)], [{"boxes": torch.tensor([[20.0, 10, 50, 40]]),
                                                     "labels": torch.tensor([1]), "masks": masks}])
    sum(losses.values()).backward()
    assert model.head.stages[-1].relation.proj.weight.grad.abs().sum() > 0
    path = tmp_path / "m.pt"
    save_checkpoint(path, Checkpoint(model.config, ["a", "b"], model.state_dict()))
    loaded = load_checkpoint(path).build_model()
    assert loaded.config.head.position_relation
    assert torch.equal(loaded.head.stages[0].relation.proj.weight, model.head.stages[0].relation.proj.weight)
