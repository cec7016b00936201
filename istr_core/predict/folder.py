"""Pre-label a folder: the plain function behind ``istr segment``.

Decoding runs in a thread pool ahead of the model and RLE encoding runs behind it, so on a folder
of thousands of images the pipeline moves at the model's speed. Finished images are appended to a
journal (``OUT.partial.jsonl``, fsynced per batch) so a killed run loses at most one batch and
``resume=True`` skips what is done; the COCO file itself is written atomically at the end.
``OUT.lock`` (:mod:`istr_core.output_lock`) keeps a second run off the same output. Under torchrun
(:mod:`istr_core.segment_dist`) each rank keeps its own journal ``OUT.partial.rank{R}.jsonl``; a
resume reads every journal of ``OUT``, whatever number of processes wrote it.
"""

from __future__ import annotations

import glob
import json
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.export import masks_to_annotations, write_json_atomic
from ..data.images import ImageReadError, list_images, read_image
from ..formats.locations import images_dir_info
from .output_lock import OutputLock


@dataclass
class SegmentSummary:
    out: Path
    images: int = 0  # images in the output (done now or resumed)
    instances: int = 0
    skipped: list[str] = field(default_factory=list)  # one message per unreadable image
    resumed: int = 0


def journal_path(out: Path) -> Path:
    """The journal of a single-process run."""
    return out.with_name(out.name + ".partial.jsonl")


def rank_journal_path(out: Path, rank: int) -> Path:
    """The journal of one rank of a torchrun run."""
    return out.with_name(f"{out.name}.partial.rank{rank}.jsonl")


def all_journals(out: Path) -> list[Path]:
    """Every journal of ``out`` on disk, whatever world size wrote it: single-process first, then by rank."""
    ranks = []
    for p in out.parent.glob(glob.escape(out.name) + ".partial.rank*.jsonl"):
        number = p.name[len(out.name) + len(".partial.rank") : -len(".jsonl")]
        if number.isdigit():
            ranks.append((int(number), p))
    single = [journal_path(out)] if journal_path(out).is_file() else []
    return single + [p for _, p in sorted(ranks)]


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


def _read_journals(paths: list[Path]) -> dict[str, dict]:
    """Records of previous runs by file name; a torn last line (killed mid-write) is ignored."""
    done: dict[str, dict] = {}
    for path in paths:
        if path.is_file():
            done.update(_read_journal(path))
    return done


def _read_journal(path: Path) -> dict[str, dict]:
    done: dict[str, dict] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if (
                isinstance(record, dict)
                and isinstance(record.get("file_name"), str)
                and isinstance(record.get("width"), int)
                and isinstance(record.get("height"), int)
                and isinstance(record.get("annotations"), list)
            ):
                done[record["file_name"]] = record
    return done


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:  # undecodable bytes in a Linux file name, kept as surrogates
        return False


def _skip_non_utf8_names(
    paths: list[Path], names: dict[Path, str], summary: SegmentSummary, warn: Callable[[str], None]
) -> set[Path]:
    """Files whose names a (UTF-8) COCO file cannot hold: warned about, counted as skipped."""
    bad = {p for p in paths if not _is_utf8(names[p])}
    for path in sorted(bad):
        message = f"{printable(path)}: file name is not valid UTF-8 (rename the file)"
        summary.skipped.append(message)
        warn(f"warning: skipped {message}")
    return bad


def printable(path: os.PathLike | str) -> str:
    """``path`` safe to print and store: undecodable bytes become ``\\xNN`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _drop_torn_tail(path: Path) -> None:
    """Cut a half-written last line (the run was killed mid-write) so new records start on a fresh line."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


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


@dataclass
class SegmentPlan:
    """What a run has to do: every image of the folder in order, and which of them are done already."""

    folder: Path
    paths: list[Path]  # every image, sorted: the order of the output
    names: dict[Path, str]  # path -> file_name in the output (relative to folder, posix)
    done: set[str]  # file_names finished by an interrupted run (resume)
    todo: list[Path]  # still to segment, in order


def plan_segment(
    folder: Path, out: Path, recursive: bool, resume: bool, summary: SegmentSummary, warn
) -> SegmentPlan:
    """List the folder and prepare the journals: a fresh run deletes every journal of ``out`` (of
    any world size); a resumed run reads them all, so a run killed with N processes resumes with M."""
    paths = list_images(folder, recursive)
    journals = all_journals(out)
    if resume:
        for journal in journals:
            _drop_torn_tail(journal)
        done = set(_read_journals(journals))
    else:
        for journal in journals:
            journal.unlink(missing_ok=True)
        done = set()
    names = {p: p.relative_to(folder).as_posix() for p in paths}
    summary.resumed = len(done)
    unnamable = _skip_non_utf8_names(paths, names, summary, warn)
    todo = [p for p in paths if names[p] not in done and p not in unnamable]
    return SegmentPlan(folder, paths, names, done, todo)


def segment_folder(
    folder: str | os.PathLike,
    out: str | os.PathLike,
    segmenter,
    score_threshold: float = 0.5,
    batch_size: int = 1,
    recursive: bool = False,
    resume: bool = False,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    warn: Callable[[str], None] = print,
    dist=None,
) -> SegmentSummary:
    """Segment every image of ``folder`` into the COCO file ``out``. Under torchrun pass ``dist``
    (a :class:`~istr_core.train.distributed.DistInfo` with ``enabled``): the images are split across
    the ranks (``istr_core.segment_dist``) and rank 0 writes the same file one process would."""
    if dist is not None and dist.enabled:
        from .distributed import segment_folder_distributed

        return segment_folder_distributed(
            folder,
            out,
            segmenter,
            score_threshold,
            batch_size,
            recursive,
            resume,
            workers,
            progress,
            warn,
            dist,
        )
    folder, out = Path(folder), Path(out)
    summary = SegmentSummary(out)
    with OutputLock(out):
        plan = plan_segment(folder, out, recursive, resume, summary, warn)
        categories = categories_for(segmenter)
        total, finished = len(plan.paths), len(plan.paths) - len(plan.todo)
        if progress:
            progress(finished, total)
        segment_images(
            plan.todo,
            plan.names,
            journal_path(out),
            segmenter,
            [c["id"] for c in categories],
            Options(score_threshold, batch_size, workers),
            summary,
            warn,
            (lambda n: progress(finished + n, total)) if progress else None,
        )
        if progress:
            progress(total, total)
        coco = merge_journals(plan, out, categories)
    summary.images, summary.instances = len(coco["images"]), len(coco["annotations"])
    return summary


@dataclass(frozen=True)
class Options:
    score_threshold: float = 0.5
    batch_size: int = 1
    workers: int = 2


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
    _drop_torn_tail(journal)
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
                writes.append(pool.submit(_record, names[path], image.shape, p, category_ids))
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


def merge_journals(plan: SegmentPlan, out: Path, categories: list[dict]) -> dict:
    """Every journal of ``out`` -> the COCO file, in folder order with ids counted as one run would;
    written atomically, then the journals are removed."""
    journals = all_journals(out)
    coco = _assemble(plan.paths, plan.names, _read_journals(journals), categories)
    coco["info"].update(images_dir_info(out, plan.folder))  # `istr finetune OUT` finds the images
    write_json_atomic(out, coco)
    for journal in journals:
        journal.unlink(missing_ok=True)
    return coco


def _record(file_name: str, shape, predictions, category_ids) -> dict:
    return {
        "file_name": file_name,
        "height": int(shape[0]),
        "width": int(shape[1]),
        "annotations": _encode(shape, predictions, category_ids),
    }


def _assemble(paths: list[Path], names: dict[Path, str], records: dict[str, dict], categories) -> dict:
    images, annotations = [], []
    for path in paths:
        record = records.get(names[path])
        if record is None:
            continue  # skipped (unreadable)
        image_id = len(images) + 1
        images.append(
            {
                "id": image_id,
                "file_name": record["file_name"],
                "width": record["width"],
                "height": record["height"],
            }
        )
        for ann in record["annotations"]:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, **ann})
    return {
        "images": images,
        "annotations": annotations,
        "categories": categories,
        "info": {"description": "pre-labelled by ISTR Studio (istr segment)"},
    }
