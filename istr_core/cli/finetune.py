"""``istr finetune``."""

from __future__ import annotations

from pathlib import Path

from ..formats.locations import default_checkpoint_for, resolve_images_dir, resolve_weights
from ..train.finetune import finetune
from .support import check_output_path, err_console, progress_bar


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
):
    images = resolve_images_dir(annotations, images)
    out = Path(out) if out is not None else default_checkpoint_for(annotations)
    check_output_path(out)
    if iterations < 1:
        raise ValueError("--iterations must be at least 1")
    if time_budget < 0:
        raise ValueError("--time-budget must be positive (minutes)")
    weights = resolve_weights(weights, images)
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
            val,
            val_images,
            resume,
            minutes=time_budget or None,
            progress=lambda i, n, losses: bar.update(task, completed=i, info=f"loss {losses['loss']:.3f}"),
            log=lambda m: err_console.print(m, highlight=False, soft_wrap=True),
        )
    new = f" (new: {', '.join(result.new_classes)})" if result.new_classes else ""
    err_console.print(
        f"wrote {result.checkpoint}: classes {', '.join(result.class_names)}{new}, "
        f"{result.iterations} iterations in {result.elapsed_s / 60:.1f} min",
        highlight=False,
        soft_wrap=True,
    )
    if result.metrics:
        s, b = result.metrics["segm"], result.metrics["bbox"]
        print(f"val: mask AP {s['AP']:.3f} (AP50 {s['AP50']:.3f}), box AP {b['AP']:.3f}")
