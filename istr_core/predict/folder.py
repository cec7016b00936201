"""Pre-label a folder: the plain function behind ``istr segment``.

Decoding runs in a thread pool ahead of the model and RLE encoding runs behind it, so on a folder
of thousands of images the pipeline moves at the model's speed. Each finished image is appended to
the run's journal (:mod:`istr_core.predict.journals`), and the COCO file is written atomically at the
end. ``OUT.lock`` (:mod:`istr_core.predict.output_lock`) keeps a second run off the same output.
Under torchrun, :mod:`istr_core.predict.distributed` splits the folder across the ranks and drives
:func:`segment_images` on each.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.images import ImageReadError, read_image
from ..data.rle import masks_to_annotations
from ..structures import Progress, ProgressCallback
from .edge_snap import snap_predictions
from .journals import (
    SegmentSummary,
    drop_torn_tail,
    journal_path,
    merge_journals,
    plan_segment,
    printable,
)
from .output_lock import OutputLock


def categories_for(segmenter) -> list[dict]:
    """COCO categories for the model's classes, keeping the ids it was trained with when known."""
    known = {
        c["name"]: c["id"]
        for c in segmenter.checkpoint.metadata.get("categories", [])
        if isinstance(c, dict) and "name" in c and "id" in c
    }
    ids = [known.get(n) for n in segmenter.class_names]
    if None in ids or len(set(ids)) != len(ids):
        ids = list(range(1, len(segmenter.class_names) + 1))
    return [{"id": i, "name": n} for i, n in zip(ids, segmenter.class_names, strict=True)]


def _encode(image_shape, predictions, category_ids: list[int]) -> list[dict]:
    anns = []
    for p, encoded in zip(predictions, masks_to_annotations([p.mask for p in predictions]), strict=True):
        if encoded is None:  # empty mask
            continue
        rle, bbox, area = encoded
        anns.append(
            {
                "category_id": category_ids[p.label],
                "segmentation": rle,
                "bbox": bbox,
                "area": area,
                "score": round(p.score, 5),
                "iscrowd": 0,
            }
        )
    return anns


def _decoded(pool: ThreadPoolExecutor, paths: list[Path], window: int) -> Iterator[tuple[Path, Future]]:
    pending: deque = deque()
    for path in paths:
        pending.append((path, pool.submit(read_image, path)))
        if len(pending) >= window:
            yield pending.popleft()
    while pending:
        yield pending.popleft()


def segment_folder(
    folder: str | os.PathLike,
    out: str | os.PathLike,
    segmenter,
    score_threshold: float = 0.5,
    batch_size: int = 1,
    recursive: bool = False,
    resume: bool = False,
    workers: int = 2,
    progress: ProgressCallback | None = None,
    warn: Callable[[str], None] = print,
    snap_edges: bool = False,
) -> SegmentSummary:
    """Segment every image of ``folder`` into the COCO file ``out`` in this process (under torchrun,
    :func:`istr_core.predict.distributed.segment_folder_distributed` splits the work instead).
    ``snap_edges``: every mask snapped to the image's edge (:mod:`istr_core.predict.edge_snap`)."""
    folder, out = Path(folder), Path(out)
    summary = SegmentSummary(out)
    with OutputLock(out):
        plan = plan_segment(folder, out, recursive, resume, summary, warn)
        categories = categories_for(segmenter)
        total, finished = len(plan.paths), len(plan.paths) - len(plan.todo)
        if progress:
            progress(Progress(finished, total))
        segment_images(
            plan.todo,
            plan.names,
            journal_path(out),
            segmenter,
            [c["id"] for c in categories],
            Options(score_threshold, batch_size, workers, snap_edges),
            summary,
            warn,
            (lambda n: progress(Progress(finished + n, total))) if progress else None,
        )
        if progress:
            progress(Progress(total, total))
        coco = merge_journals(plan, out, categories)
    summary.images, summary.instances = len(coco["images"]), len(coco["annotations"])
    return summary


@dataclass(frozen=True)
class Options:
    score_threshold: float = 0.5
    batch_size: int = 1
    workers: int = 2
    snap_edges: bool = False  # outlines snapped to the image's edge, on the encoding threads


class SegmentFailed(RuntimeError):
    """The model (or encoding) raised on an image: a failure of the run, unlike an unreadable image."""


def segment_images(
    todo: list[Path],
    names: dict[Path, str],
    journal: Path,
    segmenter,
    category_ids: list[int],
    options: Options,
    summary: SegmentSummary,
    warn: Callable[[str], None],
    progress: Callable[[int], None] | None = None,
    where: str = "",
) -> None:
    """Segment ``todo`` in order, appending one record per finished image to ``journal`` (fsynced
    per batch). Unreadable images are warned about and skipped; any other exception is re-raised as
    :class:`SegmentFailed` naming ``where`` (e.g. "rank 1 ") and the image(s) of the batch."""
    batch_size, workers = options.batch_size, options.workers
    finished = 0
    drop_torn_tail(journal)
    with ThreadPoolExecutor(max(1, workers)) as pool, open(journal, "a", encoding="utf-8") as log:
        writes: deque[Future] = deque()
        batch: list[tuple[Path, np.ndarray]] = []

        def flush():
            if not batch:
                return
            try:
                preds = segmenter.predict_batch([im for _, im in batch], options.score_threshold)
            except Exception as exc:
                failed = ", ".join(printable(names[p]) for p, _ in batch)
                raise SegmentFailed(f"{where}failed on {failed}: {type(exc).__name__}: {exc}") from exc
            for (path, image), p in zip(batch, preds, strict=True):
                writes.append(pool.submit(_record, names[path], image, p, category_ids, options.snap_edges))
            batch.clear()
            _write_records(log, writes, keep=2 * batch_size + 2)

        try:
            for path, future in _decoded(pool, todo, window=max(4, 2 * batch_size + workers)):
                try:
                    batch.append((path, future.result()))
                except ImageReadError as exc:
                    summary.skipped.append(str(exc))
                    warn(f"warning: skipped {exc}")
                    finished += 1
                if len(batch) >= batch_size:
                    n = len(batch)
                    flush()
                    finished += n
                if progress:
                    progress(finished)
            flush()
        except BaseException:  # failing (or stopped): keep every finished record for --resume
            _write_records(log, deque(f for f in writes if f.exception() is None), keep=0)
            raise
        _write_records(log, writes, keep=0)


def _write_records(log, writes: deque[Future], keep: int) -> None:
    """Append the finished records in order (all but the last ``keep`` unless done), then fsync."""
    while writes and (writes[0].done() or len(writes) > keep):
        log.write(json.dumps(writes.popleft().result()) + "\n")
    log.flush()
    os.fsync(log.fileno())


def _record(file_name: str, image: np.ndarray, predictions, category_ids, snap_edges: bool) -> dict:
    if snap_edges:
        predictions = snap_predictions(image, predictions)
    return {
        "file_name": file_name,
        "height": int(image.shape[0]),
        "width": int(image.shape[1]),
        "annotations": _encode(image.shape, predictions, category_ids),
    }
