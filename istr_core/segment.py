"""Pre-label a folder: the plain function behind ``istr segment``.

Decoding runs in a thread pool ahead of the model and RLE encoding runs behind it, so on a folder
of thousands of images the pipeline moves at the model's speed. Finished images are appended to a
journal (``OUT.partial.jsonl``, fsynced per batch) so a killed run loses at most one batch and
``resume=True`` skips what is done; the COCO file itself is written atomically at the end.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data.export import masks_to_annotations, write_json_atomic
from .data.images import ImageReadError, list_images, read_image
from .data.locations import images_dir_info


@dataclass
class SegmentSummary:
    out: Path
    images: int = 0  # images in the output (done now or resumed)
    instances: int = 0
    skipped: list[str] = field(default_factory=list)  # one message per unreadable image
    resumed: int = 0


def journal_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial.jsonl")


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


def _read_journal(path: Path) -> dict[str, dict]:
    """Records of a previous run by file name; a torn last line (killed mid-write) is ignored."""
    done: dict[str, dict] = {}
    if not path.is_file():
        return done
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
) -> SegmentSummary:
    folder, out = Path(folder), Path(out)
    paths = list_images(folder, recursive)
    journal = journal_path(out)
    if resume:
        _drop_torn_tail(journal)
        done = _read_journal(journal)
    else:
        journal.unlink(missing_ok=True)
        done = {}
    names = {p: p.relative_to(folder).as_posix() for p in paths}
    summary = SegmentSummary(out, resumed=len(done))
    unnamable = _skip_non_utf8_names(paths, names, summary, warn)
    todo = [p for p in paths if names[p] not in done and p not in unnamable]
    categories = categories_for(segmenter)
    category_ids = [c["id"] for c in categories]
    total, finished = len(paths), len(paths) - len(todo)
    if progress:
        progress(finished, total)
    out.parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max(1, workers)) as pool, open(journal, "a", encoding="utf-8") as log:
        writes: deque[Future] = deque()
        batch: list[tuple[Path, np.ndarray]] = []

        def flush():
            if not batch:
                return
            preds = segmenter.predict_batch([im for _, im in batch], score_threshold)
            for (path, image), p in zip(batch, preds, strict=True):
                writes.append(pool.submit(_record, names[path], image.shape, p, category_ids))
            batch.clear()
            while writes and (writes[0].done() or len(writes) > 2 * batch_size + 2):
                log.write(json.dumps(writes.popleft().result()) + "\n")
            log.flush()
            os.fsync(log.fileno())

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
                progress(finished, total)
        flush()
        while writes:
            log.write(json.dumps(writes.popleft().result()) + "\n")
        log.flush()
        os.fsync(log.fileno())
    if progress:
        progress(total, total)
    records = _read_journal(journal)
    coco = _assemble(paths, names, records, categories)
    coco["info"].update(images_dir_info(out, folder))  # `istr finetune OUT` finds the images by itself
    write_json_atomic(out, coco)
    journal.unlink(missing_ok=True)
    summary.images, summary.instances = len(coco["images"]), len(coco["annotations"])
    return summary


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
