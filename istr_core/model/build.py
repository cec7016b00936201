"""``build_model``: the one place where configuration becomes modules."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..config import PRESETS, ModelConfig
from .backbone import build_backbone
from .criterion import SetCriterion
from .dynamic_head import DynamicHead, RefinementStage
from .istr import ISTR
from .mask_codec import build_mask_codec
from .matcher import HungarianMatcher
from .transform import ImageBatcher

_SECTIONS = ("backbone", "head", "mask_codec", "input", "loss", "matcher")


def build_model(
    num_classes: int = 80,
    backbone: str = "resnet50",
    *,
    preset: str = "paper",
    config: ModelConfig | None = None,
    **options: Any,
) -> ISTR:
    """Build an ISTR model; ``options`` override any config field by name, e.g.
    ``build_model(2, "resnet18", num_proposals=100, min_size=512, pretrained="imagenet")``.

    ``preset``: "paper" (the reference hyper-parameters) or "cpu-small"; ``config`` replaces both.
    """
    if config is None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
        config = PRESETS[preset](num_classes)
        depth = backbone_depth(backbone)
        config = dataclasses.replace(config, backbone=dataclasses.replace(config.backbone, depth=depth))
    config = (
        override(config, num_classes=num_classes, **options)
        if options or num_classes != config.num_classes
        else config
    )
    return build_model_from_config(config)


def backbone_depth(backbone: str) -> int:
    """ResNet depth from a name as users write it: resnet50, r50, resnet50_fpn, 50."""
    name = backbone.lower().removeprefix("resnet").removeprefix("r").removesuffix("_fpn").removesuffix("-fpn")
    if not name.isdigit():
        raise ValueError(f"unknown backbone {backbone!r}; expected resnet18, resnet34, resnet50 or resnet101")
    return int(name)


def override(config: ModelConfig, **options: Any) -> ModelConfig:
    """Return ``config`` with fields replaced by name; a name must exist in exactly one section."""
    top = {
        k: v
        for k, v in options.items()
        if k in {f.name for f in dataclasses.fields(config)} and k not in _SECTIONS
    }
    per_section: dict[str, dict[str, Any]] = {}
    for key, value in options.items():
        if key in top:
            continue
        owners = [s for s in _SECTIONS if key in {f.name for f in dataclasses.fields(getattr(config, s))}]
        if len(owners) != 1:
            raise TypeError(
                f"unknown model option {key!r}"
                if not owners
                else f"ambiguous option {key!r} (in {owners}); pass config=ModelConfig(...) instead"
            )
        per_section.setdefault(owners[0], {})[key] = value
    sections = {s: dataclasses.replace(getattr(config, s), **kv) for s, kv in per_section.items()}
    return dataclasses.replace(config, **top, **sections)


def build_model_from_config(cfg: ModelConfig) -> ISTR:
    h, mc = cfg.head, cfg.mask_codec
    if cfg.backbone.fpn_channels != h.hidden_dim:
        cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, fpn_channels=h.hidden_dim))
    backbone = build_backbone(
        cfg.backbone.depth,
        cfg.backbone.pretrained,
        cfg.backbone.trainable_layers,
        cfg.backbone.norm,
        cfg.backbone.fpn_channels,
    )
    stage = RefinementStage(
        cfg.num_classes,
        h.hidden_dim,
        h.num_heads,
        h.dim_feedforward,
        h.dim_dynamic,
        h.num_dynamic,
        h.box_pooler_size,
        h.mask_pooler_size,
        mc.dim,
        h.dropout,
        h.num_cls_layers,
        h.num_reg_layers,
        h.num_mask_layers,
    )
    head = DynamicHead(stage, h.num_stages, h.box_pooler_size, h.mask_pooler_size, h.prior_prob)
    codec = build_mask_codec(mc.kind, mc.mask_size, mc.dim, mc.whiten, mc.inverse_sigmoid)
    i = cfg.input
    batcher = ImageBatcher(
        i.min_size, i.max_size, i.train_min_sizes, i.pixel_mean, i.pixel_std, i.size_divisible
    )
    m, lo = cfg.matcher, cfg.loss
    matcher = HungarianMatcher(
        m.class_cost, m.l1_cost, m.giou_cost, m.mask_cost, m.focal_alpha, m.focal_gamma
    )
    criterion = SetCriterion(
        matcher,
        lo.class_weight,
        lo.l1_weight,
        lo.giou_weight,
        lo.embedding_weight,
        lo.dice_weight,
        lo.focal_alpha,
        lo.focal_gamma,
        lo.intermediate_copies,
        lo.aux_copies,
    )
    model = ISTR(
        backbone,
        head,
        codec,
        batcher,
        criterion,
        cfg.num_classes,
        h.num_proposals,
        h.hidden_dim,
        h.proposal_init,
        cfg.detections_per_image,
        cfg.score_threshold,
        h.num_aux_proposals,
        h.num_denoising_groups,
        h.denoising_box_noise,
        h.denoising_label_noise,
    )
    model.config = cfg  # plain attribute: the checkpoint writer saves it beside the weights
    return model
