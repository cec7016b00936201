"""A backbone initialised from an ISTR checkpoint's ResNet body (`istr train --pretrained
default-model`: the shipped model's is the one pretrained backbone a user has offline)."""

import pytest
import torch

from istr_core.data.shipped import DEFAULT_MODEL
from istr_core.model.backbone import PretrainedWeightsUnavailable, build_backbone


def test_the_shipped_models_resnet_body_is_loaded_as_the_backbone():
    state = torch.load(DEFAULT_MODEL, map_location="cpu", weights_only=True)["model_state"]
    for pretrained in (str(DEFAULT_MODEL), "default-model"):  # a checkpoint's path, or the keyword
        body = build_backbone(18, pretrained=pretrained, out_channels=32).body
        for name in ("conv1.weight", "layer3.1.conv2.weight", "layer4.0.bn1.running_var"):
            ours = body.state_dict()[name]
            assert torch.equal(ours, state[f"backbone.body.{name}"].float()), (pretrained, name)
    random = build_backbone(18, out_channels=32).body.state_dict()["conv1.weight"]
    assert not torch.equal(random, body.state_dict()["conv1.weight"])


def test_a_checkpoint_of_another_depth_is_refused_with_a_clear_error(tmp_path):
    with pytest.raises(PretrainedWeightsUnavailable, match="not a ResNet of this depth"):
        build_backbone(34, pretrained=str(DEFAULT_MODEL), out_channels=32)
