"""Train from COCO files: the plain functions behind ``istr train`` and ``istr finetune``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

from ..config import PRESETS, ModelConfig, TrainConfig, cpu_small_train_config
from ..formats import load_annotations
from ..formats.coco import CocoData
from ..model.build import override
from ..structures import ProgressCallback
from .distributed import resolve_device
from .loop import Trainer, TrainResult
from .samples import CocoInstanceDataset


def proposals_for(coco: CocoData, minimum: int) -> int:
    """Enough proposals for the most crowded image: 1.5x its instance count, rounded up to 10.

    A set-prediction model can never find more objects than it has proposals, and Hungarian matching
    learns faster when each object has several candidates nearby.
    """
    most = max((len(im.annotations) for im in coco.images), default=0)
    return max(minimum, proposals_needed(most))


def proposals_needed(objects: int) -> int:
    """1.5 proposals per object, rounded up to 10 (see :func:`proposals_for`)."""
    return int(math.ceil(objects * 1.5 / 10.0) * 10)


def default_train_config(preset: str) -> TrainConfig:
    return cpu_small_train_config() if preset == "cpu-small" else TrainConfig()


def model_config_for(
    coco: CocoData, preset: str, backbone_depth: int | None = None, **options
) -> ModelConfig:
    cfg = PRESETS[preset](len(coco.class_names))
    if backbone_depth is not None:
        cfg = override(cfg, depth=backbone_depth)
    if "num_proposals" not in options:
        options["num_proposals"] = proposals_for(coco, cfg.head.num_proposals)
    if cfg.head.num_aux_proposals and "num_aux_proposals" not in options:
        options["num_aux_proposals"] = options["num_proposals"]  # as many as the main group
    cfg = override(cfg, **options)
    return dataclasses.replace(
        cfg, detections_per_image=max(cfg.detections_per_image, cfg.head.num_proposals)
    )


def _fits_in_memory(coco: CocoData, max_side: int, budget_bytes: float = 2e9) -> bool:
    """Whether decoded images and masks at ``max_side`` fit comfortably in RAM (then they are cached)."""
    total = 0.0
    for im in coco.images:
        scale = min(1.0, max_side / min(im.width, im.height))
        pixels = im.width * im.height * scale * scale
        total += pixels * (3 + len(im.annotations))
    return total <= budget_bytes


def train_on_coco(
    annotations: str | Path,
    images_dir: str | Path,
    out: str | Path,
    *,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    preset: str = "cpu-small",
    device: str = "auto",
    resume: bool = False,
    init_state=None,
    metadata: dict | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train (or continue training) an ISTR model on a COCO file and write the checkpoint ``out``."""
    coco = load_annotations(annotations, images_dir)  # any format, checked as COCO
    for w in coco.warnings[:20]:
        log(f"warning: {w}")
    if coco.num_annotations == 0:
        raise ValueError(f"{annotations}: no usable annotations to train on")
    model_config = model_config or model_config_for(coco, preset)
    train_config = train_config or default_train_config(preset)
    max_side = max(model_config.input.train_min_sizes + (model_config.input.min_size,))
    cache = _fits_in_memory(coco, max_side)
    if cache and train_config.num_workers > 0:
        train_config = dataclasses.replace(train_config, num_workers=0)  # one decoded copy, in this process
    dataset = CocoInstanceDataset(
        coco,
        images_dir,
        max_side=max_side,
        hflip=train_config.hflip,
        vflip=train_config.vflip,
        crop_prob=train_config.crop_prob,
        cache=cache,
    )
    meta = {"categories": coco.categories, "train_annotations": str(annotations), **(metadata or {})}
    trainer = Trainer(
        dataset,
        model_config,
        train_config,
        out,
        coco.class_names,
        resolve_device(device),
        init_state=init_state,
        metadata=meta,
        resume=resume,
        progress=progress,
        should_stop=should_stop,
        log=log,
    )
    return trainer.run()
