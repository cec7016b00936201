"""``istr train``: options -> configs -> :func:`istr_core.train.recipes.train_on_coco`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ..config import PRESETS
from ..formats import load_annotations
from ..formats.locations import default_checkpoint_for, resolve_images_dir
from ..model.build import _depth
from ..train.recipes import default_train_config, model_config_for, train_on_coco
from .support import UserError, check_output_path, err_console, progress_bar


def run_train(
    annotations: Path,
    images: Path,
    out: Path,
    preset,
    backbone,
    pretrained,
    iterations,
    time_budget,
    batch_size,
    lr,
    proposals,
    checkpoint_every,
    workers,
    val,
    val_images,
    resume,
    device,
    seed,
    debug,
    bf16: bool = True,
) -> None:
    images = resolve_images_dir(annotations, images)
    out = Path(out) if out is not None else default_checkpoint_for(annotations)
    check_output_path(out)
    if preset is None:
        preset = "paper" if device != "cpu" and torch.cuda.is_available() else "cpu-small"
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if val is not None:
        load_annotations(val, val_images or images)  # fail now, not after hours of training
    coco = load_annotations(annotations, images)
    options = {"pretrained": pretrained}
    if proposals:
        options["num_proposals"] = proposals
    model_config = model_config_for(coco, preset, _depth(backbone) if backbone else None, **options)
    tc = default_train_config(preset)
    changes = {
        "iterations": iterations,
        "batch_size": batch_size,
        "lr": lr,
        "checkpoint_every": checkpoint_every,
        "num_workers": workers,
        "seed": seed,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if not bf16:
        changes.update(amp=False, cpu_amp=False)
    if time_budget > 0:
        changes["time_budget_s"] = time_budget * 60
        if iterations is None:
            changes["iterations"] = 10**9  # the clock ends the run
    tc = dataclasses.replace(tc, **changes)
    err_console.print(
        f"training {preset} (ResNet-{model_config.backbone.depth}, {model_config.head.num_proposals} "
        f"proposals, {model_config.head.num_stages} stages) on {len(coco.images)} images, "
        f"{coco.num_annotations} instances, {len(coco.class_names)} classes -> {out}"
    )
    total = None if tc.time_budget_s > 0 and iterations is None else tc.iterations
    with progress_bar("training", total) as (bar, task):

        def on_progress(p):
            info = f"loss {p.losses['loss']:.3f} lr {p.lr:.2e}"
            if total is None:
                info += f" ({p.elapsed_s / 60:.1f}/{tc.time_budget_s / 60:.0f} min)"
            bar.update(task, completed=p.iteration, info=info)

        result = train_on_coco(
            annotations,
            images,
            out,
            model_config=model_config,
            train_config=tc,
            device=device,
            resume=resume,
            progress=on_progress,
            log=err_console.print,
        )
    err_console.print(
        f"wrote {result.checkpoint} after {result.iterations} iterations ({result.elapsed_s / 60:.1f} min)"
    )
    if val is not None:
        from .evaluate import run_eval

        m = run_eval(val, val_images or images, result.checkpoint, 1, device)
        err_console.print(
            f"val: mask AP {m['segm']['AP']:.3f} (AP50 {m['segm']['AP50']:.3f}), box AP {m['bbox']['AP']:.3f}"
        )
