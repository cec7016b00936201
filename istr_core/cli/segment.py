"""``istr segment``."""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from ..data.images import list_images
from ..formats import check_format, convert
from ..formats.locations import resolve_weights
from ..structures import Progress
from .support import Debug, Device, check_output_path, friendly_errors, progress_bar, say


def run_segment(
    folder: Path,
    out: Path,
    weights,
    score_threshold,
    batch_size,
    recursive,
    resume,
    workers,
    device,
    snap_edges: bool = False,
) -> bool:
    """Segment ``folder`` into ``out``; False on a torchrun rank other than 0 (rank 0 wrote it)."""
    check_output_path(Path(out))
    if batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError("--score-threshold must be between 0 and 1")
    total = len(list_images(folder, recursive))  # also fails early on a missing folder
    if total == 0:
        raise ValueError(
            f"{folder}: no images found (looked for jpg, jpeg, png, bmp, tif, tiff, webp"
            f"{'' if recursive else '; use --recursive for sub-folders'})"
        )
    # torch loads here, not at import: ``istr --help`` stays instant
    from ..predict.distributed import device_for_rank, join_segment_group, segment_folder_distributed
    from ..predict.folder import segment_folder
    from ..predict.segmenter import Segmenter

    info = join_segment_group()  # under torchrun: this process's rank; else a single process
    segmenter = Segmenter.from_checkpoint(resolve_weights(weights, folder), device_for_rank(device, info))
    with progress_bar("segmenting", total) if info.is_main else nullcontext((None, None)) as (bar, task):
        state = {"last": 0, "t0": None}

        def on_progress(p: Progress) -> None:
            now = time.monotonic()
            state["t0"] = state["t0"] or (now, p.done)
            t0, d0 = state["t0"]
            rate = (p.done - d0) / (now - t0) if now > t0 else 0.0
            bar.update(task, completed=p.done, total=p.total, info=f"{rate:.2f} img/s")

        args = (folder, out, segmenter, score_threshold, batch_size, recursive, resume, workers)
        progress = on_progress if info.is_main else None
        if info.enabled:  # under torchrun: this rank's share; rank 0 writes the one COCO file
            summary = segment_folder_distributed(*args, progress, say, info, snap_edges)
        else:
            summary = segment_folder(*args, progress=progress, warn=say, snap_edges=snap_edges)
    if not info.is_main:
        return False
    resumed = f", {summary.resumed} from the interrupted run" if summary.resumed else ""
    say(
        f"wrote {out}: {summary.images} images{resumed}, {summary.instances} instances, "
        f"{len(summary.skipped)} skipped"
    )
    return True


def run_segment_as(format_: str, folder: Path, out: Path, *segment_args) -> None:
    """``istr segment --format F``: segment into a hidden COCO file beside ``out`` (so ``--resume``
    works as for COCO), convert it to ``F`` with the images of ``folder``, then remove it."""
    check_format(format_)
    coco_out = out.parent / f".{out.name}.coco.json"
    if not run_segment(folder, coco_out, *segment_args):
        return  # another torchrun rank: rank 0 converts
    result = convert(coco_out, out, format_, "coco", folder)
    for w in result.warnings[:20]:
        say(f"warning: {w}")
    coco_out.unlink()
    say(f"converted to {format_}: wrote {out} ({result.images} images, {result.instances} instances)")


@friendly_errors()
def segment_command(
    folder: Annotated[Path, typer.Argument(help="Folder of images (jpg, jpeg, png, bmp, tif, webp).")],
    out: Annotated[Path, typer.Option(help="COCO JSON to write (atomically).")],
    weights: Annotated[Path | None, typer.Option(help="Checkpoint (default: the embedded model).")] = None,
    score_threshold: Annotated[float, typer.Option(help="Keep predictions scoring at least this.")] = 0.5,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 1,
    recursive: Annotated[bool, typer.Option(help="Include sub-folders.")] = False,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run into the same --out.")] = False,
    workers: Annotated[int, typer.Option(help="Threads decoding images and encoding masks.")] = 2,
    device: Device = "auto",
    snap_edges: Annotated[
        bool,
        typer.Option(
            help="Snap every outline to the image's edge (half-way grey level between the object and "
            "its surroundings, where that agrees with the model's mask): often closer to hand-drawn "
            "outlines on microscopy, worse on textured objects (istr-app's gate decides it from "
            "your reviewed images; here it is your call)."
        ),
    ] = False,
    format_: Annotated[
        str, typer.Option("--format", help="coco (one JSON), or cvat, labelme, voc, yolo (a dataset folder).")
    ] = "coco",
    debug: Debug = False,
):
    """Pre-label every image in FOLDER and write one COCO JSON file (or another format)."""
    args = (weights, score_threshold, batch_size, recursive, resume, workers, device, snap_edges)
    if format_ != "coco":
        return run_segment_as(format_, folder, out, *args)
    run_segment(folder, out, *args)
