"""The ``istr`` command line: thin typer wrappers over istr_core functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .support import friendly_errors

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="ISTR Studio: pre-label images with ISTR, fine-tune on corrected annotations.",
)

Debug = Annotated[bool, typer.Option("--debug", help="Show Python tracebacks.")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
IMAGES_HELP = (
    "Folder the JSON's file_name entries are relative to (default: the folder the file records, "
    "as `istr segment` and istr-app write it, else the JSON's own folder)."
)


@app.command()
@friendly_errors()
def train(
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
        str, typer.Option(help="Backbone init: none, imagenet, or a ResNet state-dict file.")
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
    bf16: Annotated[
        bool,
        typer.Option(
            help="bf16 autocast on CUDA and on CPUs that do bf16 natively (--no-bf16: fp32 everywhere)."
        ),
    ] = True,
    debug: Debug = False,
):
    """Train an ISTR model from scratch on a COCO file."""
    params = dict(locals())
    from .train import run_train

    run_train(**params)


@app.command("eval")
@friendly_errors()
def eval_(
    annotations: Annotated[Path, typer.Argument(help="COCO instances JSON with the ground truth.")],
    images: Annotated[Path | None, typer.Option(help=IMAGES_HELP)] = None,
    weights: Annotated[Path | None, typer.Option(help="Checkpoint (default: the embedded model).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object.")] = False,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 1,
    device: Device = "auto",
    debug: Debug = False,
):
    """Print COCO box and mask AP of a checkpoint on an annotated set."""
    from .evaluate import run_eval

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


@app.command()
@friendly_errors()
def segment(
    folder: Annotated[Path, typer.Argument(help="Folder of images (jpg, jpeg, png, bmp, tif, webp).")],
    out: Annotated[Path, typer.Option(help="COCO JSON to write (atomically).")],
    weights: Annotated[Path | None, typer.Option(help="Checkpoint (default: the embedded model).")] = None,
    score_threshold: Annotated[float, typer.Option(help="Keep predictions scoring at least this.")] = 0.5,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 1,
    recursive: Annotated[bool, typer.Option(help="Include sub-folders.")] = False,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run into the same --out.")] = False,
    workers: Annotated[int, typer.Option(help="Threads decoding images and encoding masks.")] = 2,
    device: Device = "auto",
    format_: Annotated[
        str, typer.Option("--format", help="coco (one JSON), or cvat, labelme, voc, yolo (a dataset folder).")
    ] = "coco",
    debug: Debug = False,
):
    """Pre-label every image in FOLDER and write one COCO JSON file (or another format)."""
    from .segment import run_segment

    args = (weights, score_threshold, batch_size, recursive, resume, workers, device)
    if format_ != "coco":
        from .convert import run_segment_as

        return run_segment_as(format_, folder, out, *args)
    run_segment(folder, out, *args)


@app.command()
@friendly_errors()
def finetune(
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
    val: Annotated[Path | None, typer.Option(help="COCO JSON to report held-out AP on.")] = None,
    val_images: Annotated[
        Path | None, typer.Option(help="Images folder for --val (default: --images).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted fine-tune from --out.")] = False,
    device: Device = "auto",
    debug: Debug = False,
):
    """Fine-tune a model on annotations (e.g. `istr segment` output corrected in istr-app)."""
    from .finetune import run_finetune

    run_finetune(
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
        time_budget,
    )


@app.command()
@friendly_errors()
def convert(
    source: Annotated[Path, typer.Argument(help="Annotations: a file or a dataset folder.")],
    to: Annotated[str, typer.Option(help="Output format: coco, cvat, labelme, voc or yolo.")],
    out: Annotated[Path, typer.Option(help="File (coco, cvat .xml) or folder to write.")],
    from_: Annotated[
        str | None, typer.Option("--from", help="Input format (default: detected from SOURCE).")
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(help="Images folder to copy into the output layout (yolo, voc, labelme, cvat)."),
    ] = None,
    debug: Debug = False,
):
    """Convert annotations between COCO, CVAT XML, labelme, VOC masks and YOLO-seg."""
    from .convert import run_convert

    run_convert(source, to, out, from_, images)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
