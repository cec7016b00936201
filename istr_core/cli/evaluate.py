"""``istr eval``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..eval.coco_eval import category_mapping, evaluate
from ..formats import load_annotations
from ..formats.coco import CocoData
from ..formats.locations import resolve_images_dir, resolve_weights
from .support import IMAGES_HELP, Debug, Device, UserError, friendly_errors, progress_bar, say


def run_eval(
    annotations: Path,
    images: Path,
    weights: Path | None,
    batch_size: int,
    device: str,
    show_progress: bool = True,
) -> dict:
    from ..predict.segmenter import Segmenter  # torch loads here: ``istr --help`` stays instant

    if batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    images = resolve_images_dir(annotations, images)
    weights = resolve_weights(weights, images)
    coco = load_annotations(annotations, images)
    for w in coco.warnings[:20]:
        say(f"warning: {w}")
    segmenter = Segmenter.from_checkpoint(weights, device)
    check_classes(segmenter.class_names, coco, weights)
    if not show_progress:
        return evaluate(segmenter, coco, images, batch_size)
    with progress_bar("evaluating", len(coco.images)) as (bar, task):
        return evaluate(
            segmenter, coco, images, batch_size, progress=lambda p: bar.update(task, completed=p.done)
        )


def check_classes(class_names: list[str], coco: CocoData, weights: Path | None) -> None:
    """Refuse a checkpoint with none of the file's classes; warn about file classes it cannot predict."""
    model = f"checkpoint {weights}" if weights is not None else "the default model"
    mapping = category_mapping(class_names, coco)
    if not mapping:
        raise UserError(
            f"{model} has classes {_names(class_names)} but {coco.path} has categories "
            f"{_names(coco.class_names)}: no class name matches"
        )
    unknown = [n for n in coco.class_names if n not in class_names]
    if unknown:
        say(f"warning: {model} has no class for {_names(unknown)} in {coco.path}; their AP counts as 0")


def _names(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


@friendly_errors()
def eval_command(
    annotations: Annotated[Path, typer.Argument(help="COCO instances JSON with the ground truth.")],
    images: Annotated[Path | None, typer.Option(help=IMAGES_HELP)] = None,
    weights: Annotated[Path | None, typer.Option(help="Checkpoint (default: the embedded model).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object.")] = False,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 1,
    device: Device = "auto",
    debug: Debug = False,
):
    """Print COCO box and mask AP of a checkpoint on an annotated set."""
    metrics = run_eval(annotations, images, weights, batch_size, device, show_progress=not as_json)
    if as_json:
        typer.echo(json.dumps(metrics))
    else:
        for kind in ("bbox", "segm"):
            m = metrics[kind]
            typer.echo(
                f"{kind:5s} AP {m['AP']:.3f}  AP50 {m['AP50']:.3f}  AP75 {m['AP75']:.3f}  "
                f"APs {m['APs']:.3f}  APm {m['APm']:.3f}  APl {m['APl']:.3f}"
            )
