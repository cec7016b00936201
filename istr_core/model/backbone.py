"""ResNet + FPN feature extractor (torchvision's), with an offline-friendly way to get ImageNet weights."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops import FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from ..data.shipped import DEFAULT_MODEL

SHIPPED_BACKBONE = "default-model"  # ``pretrained``: the shipped default model's ResNet body

_RESNETS = {
    18: (resnet.resnet18, resnet.ResNet18_Weights.IMAGENET1K_V1),
    34: (resnet.resnet34, resnet.ResNet34_Weights.IMAGENET1K_V1),
    50: (resnet.resnet50, resnet.ResNet50_Weights.IMAGENET1K_V1),
    101: (resnet.resnet101, resnet.ResNet101_Weights.IMAGENET1K_V1),
}


class PretrainedWeightsUnavailable(RuntimeError):
    """ImageNet weights were asked for but cannot be had (offline and not cached, or a bad file)."""


def build_backbone(
    depth: int,
    pretrained: str = "none",
    trainable_layers: int = 3,
    norm: str = "auto",
    out_channels: int = 256,
) -> BackboneWithFPN:
    """ResNet-``depth`` with an FPN emitting ``out_channels`` maps named '0'-'3' (strides 4-32) + 'pool'.

    ``pretrained``: "none"; "imagenet" (torchvision weights API: cached file or download); or a path
    to a ResNet state dict saved by torchvision (``torch.save(resnet50(weights=...).state_dict())``)
    or to an ISTR checkpoint (its ResNet body); "default-model" (:data:`SHIPPED_BACKBONE`): the
    shipped default model's ResNet-18, the one pretrained backbone every user has offline.
    Random-init backbones train their BatchNorm (frozen random statistics would never normalise).
    """
    if depth not in _RESNETS:
        raise ValueError(f"unsupported ResNet depth {depth}; choose one of {sorted(_RESNETS)}")
    is_pretrained = pretrained not in ("", "none", None)
    if norm == "auto":
        norm = "frozen_bn" if is_pretrained else "bn"
    norm_layer = {"frozen_bn": FrozenBatchNorm2d, "bn": nn.BatchNorm2d}.get(norm)
    if norm_layer is None:
        raise ValueError(f"unknown backbone norm {norm!r}; expected 'frozen_bn', 'bn' or 'auto'")
    factory, weights = _RESNETS[depth]
    body = factory(weights=None, norm_layer=norm_layer)
    if is_pretrained:
        _load_into(body, _load_imagenet_state(pretrained, weights, depth), pretrained)
    return _attach_fpn(body, trainable_layers if is_pretrained else 5, out_channels)


def _load_into(body: nn.Module, state: dict, source: str) -> None:
    missing, _ = body.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing:
        raise PretrainedWeightsUnavailable(f"{source}: not a ResNet of this depth (missing {missing[:3]}...)")


def _attach_fpn(body: nn.Module, trainable_layers: int, out_channels: int) -> BackboneWithFPN:
    """Freeze the early stages and put an FPN on layers 1-4 (torchvision's recipe, any width)."""
    layers_to_train = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable_layers]
    if trainable_layers == 5:
        layers_to_train.append("bn1")
    for name, parameter in body.named_parameters():
        if all(not name.startswith(layer) for layer in layers_to_train):
            parameter.requires_grad_(False)
    in_channels_stage2 = body.inplanes // 8
    in_channels_list = [in_channels_stage2 * 2 ** (i - 1) for i in range(1, 5)]
    return_layers = {f"layer{k}": str(v) for v, k in enumerate([1, 2, 3, 4])}
    return BackboneWithFPN(
        body, return_layers, in_channels_list, out_channels, extra_blocks=LastLevelMaxPool()
    )


def _load_imagenet_state(pretrained: str, weights, depth: int) -> dict:
    if pretrained != "imagenet":
        path = DEFAULT_MODEL if pretrained == SHIPPED_BACKBONE else Path(pretrained)
        if not path.is_file():
            raise PretrainedWeightsUnavailable(f"backbone weights file not found: {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise PretrainedWeightsUnavailable(f"{path}: not a ResNet state dict ({exc})") from None
        if not isinstance(state, dict):
            raise PretrainedWeightsUnavailable(f"{path}: not a state dict")
        if isinstance(state.get("model_state"), dict):  # an ISTR checkpoint: its ResNet body
            body = "backbone.body."
            state = {k[len(body) :]: v.float() for k, v in state["model_state"].items() if k.startswith(body)}
        return state
    try:
        return weights.get_state_dict(progress=False)
    except Exception as exc:
        raise PretrainedWeightsUnavailable(
            f"could not get ImageNet weights for ResNet-{depth} ({type(exc).__name__}: {exc}). Offline? "
            f"Download {weights.url} elsewhere and pass its path as the backbone weights, "
            f"or train with pretrained='none'."
        ) from None
