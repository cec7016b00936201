"""Growing a trained model into a deeper recipe keeps what it learned (istr_core/train/warm_start.py)."""

from __future__ import annotations

import pytest
import torch

from istr_core.model.build import build_model_from_config, override
from istr_core.train.checkpoint import load_checkpoint
from istr_core.train.warm_start import grown_state
from tests.conftest import make_tiny_checkpoint


@pytest.fixture
def old(tmp_path):
    return load_checkpoint(make_tiny_checkpoint(tmp_path / "old.pt", seed=3))


def test_new_stage_starts_as_the_old_last_stage_and_old_weights_are_kept(old):
    assert old.model_config.head.num_stages == 2
    state = grown_state(old, override(old.model_config, num_stages=3))
    model = build_model_from_config(override(old.model_config, num_stages=3))
    model.load_state_dict(state)  # strict: every key of the deeper model is there
    stage1 = {k[len("head.stages.1.") :]: v for k, v in old.model_state.items() if ".stages.1." in k}
    assert stage1
    for name, value in stage1.items():
        assert torch.equal(state[f"head.stages.2.{name}"], value.float())
    for key, value in old.model_state.items():
        assert torch.equal(state[key], value.float())


def test_a_table_the_old_model_lacks_keeps_its_fresh_initialisation(old):
    no_denoising = override(old.model_config, num_denoising_groups=0)
    plain = build_model_from_config(no_denoising).state_dict()
    old.model_config, old.model_state = no_denoising, {k: v for k, v in old.model_state.items() if k in plain}
    with_denoising = override(no_denoising, num_denoising_groups=1)
    state = grown_state(old, with_denoising)
    assert "denoising_labels.weight" in state and "denoising_labels.weight" not in old.model_state
    build_model_from_config(with_denoising).load_state_dict(state)


def test_a_different_width_is_refused_with_the_parameter_named(old):
    with pytest.raises(ValueError, match="shape"):
        grown_state(old, override(old.model_config, hidden_dim=48))


def test_more_proposals_keep_the_learned_ones_and_copy_their_features(old):
    state = grown_state(old, override(old.model_config, num_proposals=30))
    features, boxes = state["proposal_features.weight"], state["proposal_boxes.weight"]
    assert features.shape[0] == boxes.shape[0] == 30
    assert torch.equal(features[:12], old.model_state["proposal_features.weight"].float())
    assert torch.equal(features[12:24], features[:12])  # learned features, cycled
    assert not torch.equal(boxes[12:24], boxes[:12])  # looking somewhere else
