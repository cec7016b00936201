"""``istr train``: options -> configs -> :func:`istr_core.train.recipes.train_on_coco`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from ..config import PRESETS
from ..formats import load_annotations
from ..formats.locations import default_checkpoint_for, resolve_images_dir
from .support import (
    IMAGES_HELP,
    Debug,
    Device,
    UserError,
    check_output_path,
    err_console,
    friendly_errors,
    progress_bar,
)


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
    bf16: bool = True,
    scale_from_objects: bool | None = None,
) -> None:
    import torch  # here, not at import: ``istr --help`` stays instant

    from ..model.build import backbone_depth
    from ..train.recipes import default_train_config, model_config_for, train_on_coco

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
    depth = backbone_depth(backbone) if backbone else None
    model_config = model_config_for(coco, preset, depth, scale_from_objects, **options)
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
        f"proposals, {model_config.head.num_stages} stages, input {model_config.input.min_size} px) on "
        f"{len(coco.images)} images, "
        f"{coco.num_annotations} instances, {len(coco.class_names)} classes -> {out}"
    )
    total = None if tc.time_budget_s > 0 and iterations is None else tc.iterations
    with progress_bar("training", total) as (bar, task):

        def on_progress(p):
            info = f"loss {p.losses['loss']:.3f} lr {p.lr:.2e}"
            if total is None:
                info += f" ({p.elapsed_s / 60:.1f}/{tc.time_budget_s / 60:.0f} min)"
            bar.update(task, completed=p.done, info=info)

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


@friendly_errors()
def train_command(
    annotations: Annotated[Path, typer.Argument(help="COCO instances JSON to train on.")],
    images: Annotated[Path | None, typer.Option(help=IMAGES_HELP)] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Checkpoint to write, atomically (default: the JSON's name with .pt, beside it)."),
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="cpu-small or paper; default: paper on GPU, cpu-small on CPU.")
    ] = None,
    backbone: Annotated[str | None, typer.Option(help="resnet18, resnet34, resnet50 or resnet101.")] = None,
    pretrained: Annotated[
        str,
        typer.Option(
            help="Backbone init: none, imagenet, default-model (the shipped model's ResNet-18), or a "
            "ResNet state-dict file or ISTR checkpoint."
        ),
    ] = "none",
    iterations: Annotated[int | None, typer.Option(help="Training steps (preset default).")] = None,
    time_budget: Annotated[
        float, typer.Option(help="Stop after this many minutes; the lr schedule follows time.")
    ] = 0.0,
    batch_size: Annotated[int | None, typer.Option(help="Images per step per process.")] = None,
    lr: Annotated[float | None, typer.Option(help="AdamW learning rate.")] = None,
    proposals: Annotated[
        int | None, typer.Option(help="Number of proposals (default: fits the busiest image).")
    ] = None,
    checkpoint_every: Annotated[int | None, typer.Option(help="Steps between checkpoints.")] = None,
    workers: Annotated[int | None, typer.Option(help="Data-loading worker processes.")] = None,
    val: Annotated[Path | None, typer.Option(help="COCO JSON to evaluate on after training.")] = None,
    val_images: Annotated[
        Path | None, typer.Option(help="Images folder for --val (default: --images).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from --out.")] = False,
    device: Device = "auto",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    scale_from_objects: Annotated[
        bool | None,
        typer.Option(
            "--scale-from-objects/--preset-scale",
            help="Input scale no larger than the objects need (small images of large objects train "
            "unenlarged; default for cpu-small) or the preset's.",
            show_default=False,
        ),
    ] = None,
    bf16: Annotated[
        bool,
        typer.Option(
            help="bf16 autocast on CUDA and on CPUs that do bf16 natively (--no-bf16: fp32 everywhere)."
        ),
    ] = True,
    debug: Debug = False,
):
    """Train an ISTR model from scratch on a COCO file."""
    params = {k: v for k, v in locals().items() if k != "debug"}  # --debug is friendly_errors'
    run_train(**params)
