"""``istr finetune``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..formats import load_annotations
from ..formats.locations import default_checkpoint_for, resolve_images_dir, resolve_weights
from .evaluate import run_eval
from .support import (
    IMAGES_HELP,
    Debug,
    Device,
    check_output_path,
    friendly_errors,
    progress_bar,
    say,
)


def run_finetune(
    annotations,
    images,
    out,
    weights,
    iterations,
    batch_size,
    lr,
    val,
    val_images,
    resume,
    device,
    time_budget: float = 0.0,
    frozen_stages: int | None = None,
):
    from ..train.finetune import finetune  # torch loads here: ``istr --help`` stays instant

    images = resolve_images_dir(annotations, images)
    out = Path(out) if out is not None else default_checkpoint_for(annotations)
    check_output_path(out)
    if iterations < 1:
        raise ValueError("--iterations must be at least 1")
    if time_budget < 0:
        raise ValueError("--time-budget must be positive (minutes)")
    weights = resolve_weights(weights, images)
    if val is not None:
        load_annotations(val, val_images or images)  # fail now, not after training
    total = None if time_budget > 0 else iterations
    extra = f" for {time_budget:g} min" if time_budget > 0 else ""
    with progress_bar("fine-tuning" + extra, total) as (bar, task):
        result = finetune(
            annotations,
            images,
            out,
            weights,
            iterations,
            device,
            batch_size,
            lr,
            resume,
            minutes=time_budget or None,
            frozen_stages=frozen_stages,
            progress=lambda p: bar.update(task, completed=p.done, info=f"loss {p.losses['loss']:.3f}"),
            log=say,
        )
    new = f" (new: {', '.join(result.new_classes)})" if result.new_classes else ""
    say(
        f"wrote {result.checkpoint}: classes {', '.join(result.class_names)}{new}, "
        f"{result.iterations} iterations in {result.elapsed_s / 60:.1f} min"
    )
    if val is not None:
        metrics = run_eval(val, val_images or images, result.checkpoint, 1, device, show_progress=False)
        s, b = metrics["segm"], metrics["bbox"]
        print(f"val: mask AP {s['AP']:.3f} (AP50 {s['AP50']:.3f}), box AP {b['AP']:.3f}")


@friendly_errors()
def finetune_command(
    annotations: Annotated[Path, typer.Argument(help="COCO JSON with corrected annotations.")],
    images: Annotated[Path | None, typer.Option(help=IMAGES_HELP)] = None,
    out: Annotated[
        Path | None, typer.Option(help="Checkpoint to write (default: the JSON's name with .pt, beside it).")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option(help="Model to start from (default: the embedded model).")
    ] = None,
    iterations: Annotated[int, typer.Option(help="Training steps.")] = 300,
    time_budget: Annotated[
        float,
        typer.Option(help="Minutes to train, instead of --iterations; the lr schedule follows time."),
    ] = 0.0,
    batch_size: Annotated[int | None, typer.Option(help="Images per step.")] = None,
    lr: Annotated[float | None, typer.Option(help="AdamW learning rate (default: min(base, 1e-4)).")] = None,
    frozen_stages: Annotated[
        int | None,
        typer.Option(
            help="Backbone stages kept fixed: 0 none, 1 the stem, 2 the stem and layer1, ... 5 the "
            "whole ResNet, 6 its FPN too (default: the model's training config, 0 for the embedded model)."
        ),
    ] = None,
    val: Annotated[Path | None, typer.Option(help="COCO JSON to report held-out AP on.")] = None,
    val_images: Annotated[
        Path | None, typer.Option(help="Images folder for --val (default: --images).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted fine-tune from --out.")] = False,
    device: Device = "auto",
    debug: Debug = False,
):
    """Fine-tune a model on annotations (e.g. `istr segment` output corrected in istr-app)."""
    run_finetune(**{k: v for k, v in locals().items() if k != "debug"})  # --debug is friendly_errors'
