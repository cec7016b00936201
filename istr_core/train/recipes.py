"""Train from COCO files: the plain functions behind ``istr train`` and ``istr finetune``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..config import PRESETS, InputConfig, ModelConfig, TrainConfig, cpu_small_train_config
from ..data.rle import annotation_rle, rle_bbox
from ..formats import load_annotations
from ..formats.coco import CocoData
from ..model.build import override
from ..model.transform import ZOOM_TARGET_SIDE
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


MIN_INPUT_SIDE = 256  # the input scale chosen from the objects never goes below this shorter side


def object_side(annotation: dict, height: int, width: int) -> float:
    """sqrt(width x height) of an annotation's box: its bbox, or its segmentation's (polygons or RLE)."""
    box = annotation.get("bbox") or rle_bbox(annotation_rle(annotation, height, width))
    return math.sqrt(max(box[2], 0) * max(box[3], 0))


SMALL_OBJECT_PERCENTILE = 10  # the objects that must stay >= the target side: all but the smallest tenth


def input_for_objects(coco: CocoData, config: InputConfig, target: float = ZOOM_TARGET_SIDE) -> InputConfig:
    """The preset's input scale, lowered where the images' objects need none of its enlargement.

    A preset resizes every image to its shorter side (512 for cpu-small, jittered 448-576 in
    training): small images of large objects (256 px scenes of 35-130 px shapes) are enlarged 2x,
    which quadruples the pixels of every step and shows the model nothing new. Here the shorter side
    is the images' median shorter side, enlarged only as far as their small objects (the 10th
    percentile of object sides) need to reach ``target`` pixels (the online loop's zoom target),
    and never above the preset's nor below ``MIN_INPUT_SIDE``; the training jitter and the longer
    side scale with it. Data with small objects (droplets, nuclei, photographs: their 10th
    percentile is 9-24 px) keeps the preset's scale."""
    sides = [
        object_side(a, im.height, im.width)
        for im in coco.images
        for a in im.annotations
        if not a.get("iscrowd", 0)
    ]
    if not sides:
        return config
    short = float(np.median([min(im.height, im.width) for im in coco.images]))
    small = float(np.percentile(sides, SMALL_OBJECT_PERCENTILE))
    needed = short * max(1.0, target / max(small, 1e-6))
    scale = max(needed, MIN_INPUT_SIDE) / config.min_size
    if scale >= 1.0:
        return config
    return dataclasses.replace(
        config,
        min_size=round(config.min_size * scale),
        max_size=round(config.max_size * scale),
        train_min_sizes=tuple(round(s * scale) for s in config.train_min_sizes),
    )


def model_config_for(
    coco: CocoData,
    preset: str,
    backbone_depth: int | None = None,
    scale_from_objects: bool | None = None,
    **options,
) -> ModelConfig:
    """The preset for ``coco``: enough proposals for its busiest image and, with
    ``scale_from_objects`` (default: for cpu-small, whose budget is CPU minutes), an input scale no
    larger than its objects need (:func:`input_for_objects`); explicit input ``options`` win."""
    cfg = PRESETS[preset](len(coco.class_names))
    if scale_from_objects if scale_from_objects is not None else preset == "cpu-small":
        cfg = dataclasses.replace(cfg, input=input_for_objects(coco, cfg.input))
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
