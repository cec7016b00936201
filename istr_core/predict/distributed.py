"""``istr segment`` under torchrun: the folder split across processes, one COCO file at the end.

Every rank runs the same command; torch.distributed (gloo, also on GPU nodes: only small Python
objects travel, never tensors) carries the decisions:

1. rank 0 takes the output lock, lists the folder and prepares the journals (as one process would),
   then broadcasts the plan, so no rank starts work on a file another run owns;
2. the remaining images are split by pixel count, read from the image headers by all ranks in
   parallel: greedy, largest first, into the least-loaded rank (ties: lowest index, lowest rank);
3. each rank segments its share on its own device into its own journal ``OUT.partial.rank{R}.jsonl``
   and reports progress and its end through the process group's key-value store;
4. rank 0 waits for every rank (a rank that fails or stops finishing images ends the run with a
   message naming it and its image, never a hang), then merges all journals exactly as
   :func:`~istr_core.predict.folder.segment_folder` does: same order, same image and annotation ids.
"""

from __future__ import annotations

import contextlib
import datetime
import heapq
import json
import os
import signal
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist

from ..data.images import ImageReadError, image_size
from ..structures import Progress, ProgressCallback
from ..train.distributed import DistInfo, init_distributed
from .folder import Options, SegmentFailed, categories_for, segment_images
from .journals import (
    SegmentPlan,
    SegmentSummary,
    merge_journals,
    plan_segment,
    printable,
    rank_journal_path,
)
from .output_lock import OutputLock

TIMEOUT_ENV = "ISTR_SEGMENT_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 600.0  # a rank that finishes no image for this long has failed (crash, dead node, hang)


class StoppedByRank0(SystemExit):
    """On a rank other than the one that reports: another rank refused or failed the run and prints
    the one line itself, so this process exits 1 quietly (a SystemExit, which no error handler turns
    into a second message)."""

    def __init__(self, reason: str):
        super().__init__(1)
        self.reason = reason


def stall_timeout_s() -> float:
    return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))


def join_segment_group() -> DistInfo:
    """Join the process group torchrun describes (gloo); a single-process DistInfo outside torchrun."""
    timeout = datetime.timedelta(seconds=max(stall_timeout_s(), 1800.0))
    return init_distributed(torch.device("cpu"), timeout=timeout)


def device_for_rank(device: str, info: DistInfo) -> str:
    """``cuda:LOCAL_RANK`` for auto/cuda when there are GPUs, else the device as given."""
    if info.enabled and device in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{info.local_rank}"
    return device


def image_pixels(path: Path) -> int | None:
    """width x height from the file's header (nothing decoded), None when Pillow cannot tell (an
    unreadable image, or a format only OpenCV knows: weighed as a typical image)."""
    try:
        width, height = image_size(path)
    except ImageReadError:
        return None
    return width * height


def split_by_pixels(pixels: list[int | None], world_size: int) -> list[list[int]]:
    """Indices of each rank's share: largest first into the least-loaded rank; each share in order."""
    known = [p for p in pixels if p]
    typical = int(statistics.median(known)) if known else 1
    weights = [p or typical for p in pixels]
    loads = [(0, rank) for rank in range(world_size)]  # a heap: least load first, then lowest rank
    shares: list[list[int]] = [[] for _ in range(world_size)]
    for i in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        load, rank = heapq.heappop(loads)
        shares[rank].append(i)
        heapq.heappush(loads, (load + weights[i], rank))
    return [sorted(share) for share in shares]


def segment_folder_distributed(
    folder,
    out,
    segmenter,
    score_threshold: float,
    batch_size: int,
    recursive: bool,
    resume: bool,
    workers: int,
    progress: ProgressCallback | None,
    warn: Callable[[str], None],
    info: DistInfo,
    snap_edges: bool = False,
) -> SegmentSummary:
    """This rank's part of a torchrun run; on rank 0 the returned summary describes the whole output."""
    folder, out = Path(folder), Path(out)
    options = Options(score_threshold, batch_size, workers, snap_edges)
    lock = OutputLock(out) if info.is_main else None
    with _exit_on_sigterm():
        try:
            return _segment_share(
                folder, out, segmenter, options, recursive, resume, progress, warn, info, lock
            )
        finally:
            if lock is not None:
                lock.release()


def _segment_share(folder, out, segmenter, options, recursive, resume, progress, warn, info, lock):
    summary = SegmentSummary(out)
    plan, token = _agree_on_plan(folder, out, recursive, resume, summary, warn, info, lock)
    store = dist.PrefixStore(f"istr_segment/{token}/", _default_store())
    share = _my_share(plan, info, warn)
    categories = categories_for(segmenter)
    _run_share(share, plan, out, segmenter, categories, options, summary, warn, progress, store, info)
    if not info.is_main:
        return summary
    for result in _wait_for_ranks(store, info, stall_timeout_s()):
        summary.skipped.extend(result["skipped"])
    coco = merge_journals(plan, out, categories)
    summary.images, summary.instances = len(coco["images"]), len(coco["annotations"])
    return summary


@contextlib.contextmanager
def _exit_on_sigterm():
    """torchrun (when another rank fails) and SLURM (time limit, preemption) stop processes with
    SIGTERM: leave through Python, so the lock is released and finished records are written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def leave(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, leave)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _default_store():
    # the key-value store the process group was created with (torchrun's rendezvous store); torch has
    # no public getter for it, and a second store would need a second port
    return dist.distributed_c10d._get_default_store()


def _agree_on_plan(folder, out, recursive, resume, summary, warn, info, lock) -> tuple[SegmentPlan, str]:
    """Rank 0 locks and plans, everyone receives the plan (or stops, when rank 0 could not)."""
    message: list = [None]
    if info.is_main:
        try:
            lock.acquire()
            message = [{"plan": plan_segment(folder, out, recursive, resume, summary, warn)}]
            message[0]["token"] = uuid.uuid4().hex
        except BaseException:
            dist.broadcast_object_list([{"error": True}], src=0)
            raise
    dist.broadcast_object_list(message, src=0)
    if "error" in message[0]:
        raise StoppedByRank0("rank 0 stopped the run")
    summary.resumed = len(message[0]["plan"].done)
    return message[0]["plan"], message[0]["token"]


def _my_share(plan: SegmentPlan, info: DistInfo, warn) -> list[Path]:
    """Headers read by all ranks in parallel (every world_size-th file each), then the same split."""
    mine = [image_pixels(p) for p in plan.todo[info.rank :: info.world_size]]
    gathered: list = [None] * info.world_size
    dist.all_gather_object(gathered, mine)
    pixels: list[int | None] = [None] * len(plan.todo)
    for rank, values in enumerate(gathered):
        pixels[rank :: info.world_size] = values
    shares = split_by_pixels(pixels, info.world_size)
    if info.is_main:
        sizes = ", ".join(str(len(s)) for s in shares)
        warn(
            f"segmenting on {info.world_size} processes: {len(plan.todo)} images to do, split by pixel "
            f"count ({sizes} per rank)"
        )
    return [plan.todo[i] for i in shares[info.rank]]


def _run_share(share, plan, out, segmenter, categories, options, summary, warn, progress, store, info):
    """Segment this rank's share; tell the store about every finished image and about the end."""
    rank = info.rank
    where = f"rank {rank} "

    def on_image(finished: int) -> None:
        current = plan.names[share[finished]] if finished < len(share) else "(end of its share)"
        store.set(f"beat/{rank}", f"{finished}\t{printable(current)}")
        if store.check(["failed"]):
            failure = store.get("failed").decode()
            raise SegmentFailed(failure) if info.is_main else StoppedByRank0(failure)
        if progress:
            progress(Progress(finished, len(share)))

    try:
        on_image(0)
        segment_images(
            share,
            plan.names,
            rank_journal_path(out, rank),
            segmenter,
            [c["id"] for c in categories],
            options,
            summary,
            warn,
            on_image,
            where,
        )
    except SegmentFailed as exc:
        if not store.check(["failed"]):  # not a failure reported by another rank, seen here
            store.set("failed", str(exc))
        raise
    except Exception as exc:  # e.g. out of memory while decoding: still name the rank
        message = f"{where}failed: {type(exc).__name__}: {exc}"
        store.set("failed", message)
        raise SegmentFailed(message) from exc
    store.set(f"done/{rank}", json.dumps({"skipped": summary.skipped}))


def _wait_for_ranks(store, info: DistInfo, timeout_s: float) -> list[dict]:
    """Rank 0: every other rank's end report. A failure report, or a rank whose count of finished
    images stays the same for ``timeout_s`` (crashed, its node gone, or hung), ends the run."""
    reports: dict[int, dict] = {}
    others = range(1, info.world_size)
    last: dict[int, tuple[bytes | None, float]] = {r: (None, time.monotonic()) for r in others}
    while len(reports) < info.world_size - 1:
        if store.check(["failed"]):
            raise SegmentFailed(store.get("failed").decode())
        for rank in others:
            if rank in reports:
                continue
            if store.check([f"done/{rank}"]):
                reports[rank] = json.loads(store.get(f"done/{rank}"))
                continue
            beat = store.get(f"beat/{rank}") if store.check([f"beat/{rank}"]) else None
            if beat != last[rank][0]:
                last[rank] = (beat, time.monotonic())
            elif time.monotonic() - last[rank][1] > timeout_s:
                raise SegmentFailed(_stalled(rank, beat, timeout_s))
        time.sleep(0.2)
    return [reports[r] for r in sorted(reports)]


def _stalled(rank: int, beat: bytes | None, timeout_s: float) -> str:
    if beat is None:
        return f"rank {rank} never started its share within {timeout_s:.0f} s (crashed or hung)"
    finished, current = beat.decode().split("\t", 1)
    return (
        f"rank {rank} stopped: no image finished for {timeout_s:.0f} s after {finished} of its share, "
        f"while on {current} (crashed, its node lost, or hung; {TIMEOUT_ENV} sets this limit). "
        f"Finished images are kept: rerun with --resume"
    )
