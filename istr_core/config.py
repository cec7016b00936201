"""Typed configuration: every knob of the model and of training, as frozen dataclasses.

A checkpoint stores ``ModelConfig.to_dict()`` next to the weights, so it can rebuild the exact model
without any other file. ``build_model`` (model/build.py) is the one place where these values become
modules; constructors elsewhere take plain values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class BackboneConfig:
    depth: int = 50  # ResNet depth: 18, 34, 50 or 101
    # "imagenet" (torchvision weights API, needs the weights cached or network), "none", or a path
    # to a local torchvision ResNet state dict.
    pretrained: str = "none"
    trainable_layers: int = 3  # ResNet stages left trainable when pretrained (torchvision convention)
    norm: str = "auto"  # "frozen_bn" | "bn" | "auto" (frozen when pretrained, trainable BN when not)
    fpn_channels: int = 256  # must equal HeadConfig.hidden_dim


@dataclass(frozen=True)
class HeadConfig:
    num_proposals: int = 300
    num_stages: int = 6
    hidden_dim: int = 256
    num_heads: int = 8
    dim_feedforward: int = 2048
    dim_dynamic: int = 64
    num_dynamic: int = 2
    box_pooler_size: int = 7
    mask_pooler_size: int = 28  # 0: predict the embedding from the object feature alone
    dropout: float = 0.0
    num_cls_layers: int = 1
    num_reg_layers: int = 3
    num_mask_layers: int = 3
    prior_prob: float = 0.01
    # "image": every proposal box starts as the whole image (Sparse R-CNN); "grid": boxes spread over
    # the image at several scales, which gives small datasets a useful start.
    proposal_init: str = "image"
    # Hybrid matching (training only): an extra group of proposals, invisible to the main group's
    # self-attention, matched one-to-many (LossConfig.aux_copies). It gives the shared head and
    # backbone dense supervision while the main group stays one-to-one and learns not to duplicate.
    # Inference uses the main group alone. 0 = off (the paper).
    num_aux_proposals: int = 0
    # Contrastive denoising (DINO; training only): per group, a positive (lightly noised box) and a
    # negative (noised more, target no object) query for every instance, features from a per-class
    # embedding, isolated from the other groups. Teaches rejecting a worse copy of a covered object.
    # 0 = off (the paper).
    num_denoising_groups: int = 0
    denoising_box_noise: float = 1.0  # corners move by up to this x half the box size (positives)
    denoising_label_noise: float = 0.25  # probability of a random class on a denoising query


@dataclass(frozen=True)
class MaskCodecConfig:
    kind: str = "pca"  # "pca" (fitted on training masks) or "dct" (no fit needed)
    mask_size: int = 112  # masks are cropped to their box and resized to mask_size x mask_size
    dim: int = 256  # embedding length
    whiten: bool = True  # PCA only: unit variance per component
    inverse_sigmoid: bool = True  # PCA only: encode logit(mask) rather than {0,1}


@dataclass(frozen=True)
class InputConfig:
    min_size: int = 800  # test-time shorter side
    max_size: int = 1333
    train_min_sizes: tuple[int, ...] = (480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800)
    pixel_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    pixel_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    size_divisible: int = 32


@dataclass(frozen=True)
class LossConfig:
    class_weight: float = 2.0
    l1_weight: float = 5.0
    giou_weight: float = 2.0
    embedding_weight: float = 1.0
    dice_weight: float = 5.0
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    # proposals each instance may take on stages before the last (1 = the paper's one-to-one)
    intermediate_copies: int = 1
    # proposals each instance may take in the auxiliary group (HeadConfig.num_aux_proposals)
    aux_copies: int = 4


@dataclass(frozen=True)
class MatcherConfig:
    class_cost: float = 2.0
    l1_cost: float = 5.0
    giou_cost: float = 2.0
    mask_cost: float = 1.0
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0


@dataclass(frozen=True)
class ModelConfig:
    num_classes: int = 80
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    mask_codec: MaskCodecConfig = field(default_factory=MaskCodecConfig)
    input: InputConfig = field(default_factory=InputConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    matcher: MatcherConfig = field(default_factory=MatcherConfig)
    detections_per_image: int = 100
    score_threshold: float = 0.05  # predictions below this are dropped in eval mode

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return from_dict(cls, data)


@dataclass(frozen=True)
class TrainConfig:
    iterations: int = 90_000
    batch_size: int = 16
    lr: float = 2.5e-5
    backbone_lr_factor: float = 1.0
    # backbone stages kept fixed (detectron2's freeze_at): 0 none, 1 the stem (conv1, bn1), 2 the
    # stem and layer1, ... 5 the whole ResNet, 6 the FPN too (only the head learns). Frozen stages get
    # no gradient, so their backward is skipped; their BatchNorms still follow the batches'
    # statistics in train mode
    frozen_backbone_stages: int = 0
    weight_decay: float = 1e-4
    warmup_iterations: int = 1000
    warmup_factor: float = 0.01
    lr_steps: tuple[float, ...] = (0.78, 0.93)  # fractions of iterations where lr drops x0.1
    clip_grad_norm: float = 1.0
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    cpu_amp: bool = False  # bf16 autocast on CPUs with native bf16 (AVX512-BF16, AMX); off elsewhere
    hflip: bool = True
    vflip: bool = False
    crop_prob: float = 0.5
    checkpoint_every: int = 1000
    log_every: int = 20
    num_workers: int = 2
    seed: int = 0
    mask_fit_max_masks: int = 20_000  # masks sampled to fit the PCA codec
    time_budget_s: float = 0.0  # > 0: stop after this many seconds (the lr schedule follows time)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return from_dict(cls, data)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild nested frozen dataclasses from ``asdict`` output; unknown keys are an error."""
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        default = _field_default(known[name])
        if is_dataclass(default) and isinstance(value, dict):
            value = from_dict(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


# --- presets ---------------------------------------------------------------------------------


def paper_config(num_classes: int = 80, depth: int = 50) -> ModelConfig:
    """The reference hyper-parameters of the paper (R50-FPN, 300 proposals, 6 stages)."""
    return ModelConfig(num_classes=num_classes, backbone=BackboneConfig(depth=depth))


def cpu_small_config(num_classes: int = 80) -> ModelConfig:
    """A model that trains on a 2-core CPU in minutes on small images.

    Same architecture, scaled down: ResNet-18, hidden 128, 100 proposals, 4 stages, 512 px input and
    a 56x56 -> 64 mask codec. The matcher and loss keep the paper's weights. 4 stages: on droplets in
    15 CPU minutes (fp32), 3 stages reached mask AP 0.439, 4 stages 0.463-0.506 (3 runs), 6 stages 0.072
    (benchmarks/README.md). Hybrid matching's auxiliary group and one contrastive denoising group give the
    short schedule dense supervision and teach the main group to reject duplicates (no NMS).
    """
    hidden = 128
    return ModelConfig(
        num_classes=num_classes,
        backbone=BackboneConfig(depth=18, fpn_channels=hidden),
        head=HeadConfig(
            num_proposals=100,
            num_stages=4,
            hidden_dim=hidden,
            num_heads=4,
            dim_feedforward=512,
            dim_dynamic=32,
            mask_pooler_size=0,
            proposal_init="grid",
            num_aux_proposals=100,
            num_denoising_groups=1,
        ),
        mask_codec=MaskCodecConfig(mask_size=56, dim=64),
        input=InputConfig(min_size=512, max_size=853, train_min_sizes=(448, 480, 512, 544, 576)),
        loss=LossConfig(aux_copies=4),
    )


def cpu_small_train_config() -> TrainConfig:
    """Training schedule for :func:`cpu_small_config`: higher lr and short warm-up, since nothing is
    pretrained and the budget is minutes, not days; bf16 autocast where the CPU does bf16 natively
    (about 1.4x more steps in the same time)."""
    return TrainConfig(
        iterations=2000,
        batch_size=2,
        lr=2e-4,
        warmup_iterations=100,
        lr_steps=(0.9,),
        checkpoint_every=200,
        log_every=10,
        num_workers=1,
        cpu_amp=True,
    )


PRESETS = {"cpu-small": cpu_small_config, "paper": paper_config}
