"""Which images of a folder a run still has to do, and where the finished ones are kept.

Finished images are appended to a journal (``OUT.partial.jsonl`` for one process,
``OUT.partial.rank{R}.jsonl`` per rank under torchrun), fsynced per batch, so a killed run loses at
most one batch; ``resume`` reads every journal of ``OUT``, whatever number of processes wrote it.
At the end the journals are merged, in folder order, into the COCO file, written atomically.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..data.atomic import write_json_atomic
from ..data.images import list_images
from ..formats.coco import coco_dict
from ..formats.locations import images_dir_info


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


def read_journals(paths: list[Path]) -> dict[str, dict]:
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


def drop_torn_tail(path: Path) -> None:
    """Cut a half-written last line (the run was killed mid-write) so new records start on a fresh line."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


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
            drop_torn_tail(journal)
        done = set(read_journals(journals))
    else:
        for journal in journals:
            journal.unlink(missing_ok=True)
        done = set()
    names = {p: p.relative_to(folder).as_posix() for p in paths}
    summary.resumed = len(done)
    unnamable = _skip_non_utf8_names(paths, names, summary, warn)
    todo = [p for p in paths if names[p] not in done and p not in unnamable]
    return SegmentPlan(folder, paths, names, done, todo)


def merge_journals(plan: SegmentPlan, out: Path, categories: list[dict]) -> dict:
    """Every journal of ``out`` -> the COCO file, in folder order with ids counted as one run would;
    written atomically, then the journals are removed."""
    journals = all_journals(out)
    records = read_journals(journals)
    done = [records[plan.names[p]] for p in plan.paths if plan.names[p] in records]  # else unreadable
    entries = [({k: r[k] for k in ("file_name", "width", "height")}, r["annotations"]) for r in done]
    info = {"description": "pre-labelled by ISTR Studio (istr segment)"}
    info.update(images_dir_info(out, plan.folder))  # `istr finetune OUT` finds the images
    coco = coco_dict(entries, categories, info)
    write_json_atomic(out, coco)
    for journal in journals:
        journal.unlink(missing_ok=True)
    return coco
