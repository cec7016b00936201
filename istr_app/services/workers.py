"""Background workers (QObject moved to a QThread) for pre-labelling and fine-tuning.

Workers only compute and emit; all document changes happen in the controller on the GUI thread,
where the queued signals arrive. Cancel sets a flag that the loop checks between images/iterations.
"""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from istr_core.data.images import ImageReadError, read_image
from istr_core.data.rle import encode_mask
from istr_core.interactive.exemplars import objects_like
from istr_core.predict.edge_snap import snap_predictions
from istr_core.structures import Prediction, Progress

# reviewed images of one size that exemplar pre-labels are found from: (image path, masks, labels)
ExemplarSources = dict[tuple[int, int], list[tuple[Path, object, object]]]


@dataclass(frozen=True)
class Prelabels:
    """What the pre-label worker made of one image. ``shown``: (prediction, encoded) pairs the image
    shows, labelled with the model's class indices, or with the project's for objects found from the
    reviewed ones (``project_labels``); ``predicted``: the model's predictions as it made them
    (score, model class index, encoded), which the pre-label gate prices once the image is reviewed;
    encoded: ``encode_mask``'s (RLE, box, area)."""

    shown: list[tuple[Prediction, tuple]]  # (prediction, encode_mask's (RLE, box, area))
    predicted: list[tuple[float, int, tuple]]
    project_labels: bool = False


class Worker(QObject):
    """Base: ``progress(done, total, text)``, ``finished(result_or_None)``, ``failed(message)``."""

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self):
        super().__init__()
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        try:
            self.finished.emit(self.work())
        except Exception as e:  # noqa: BLE001 - shown to the user as one line, logged in full
            traceback.print_exc()
            self.failed.emit(f"{type(e).__name__}: {e}")

    def work(self):
        raise NotImplementedError


class PrelabelWorker(Worker):
    """Predict every (key, path); emits ``result(key, Prelabels)`` per image as soon as it is done
    (RLE-encoding here keeps the first autosave off the GUI thread). With ``snap_edges`` (the
    pre-label gate's choice) the outlines shown are snapped to the image's edges
    (``istr_core.predict.edge_snap``); with ``exemplar_sources`` (the gate's choice too) an image of
    a size reviewed before shows the objects found like the reviewed ones
    (``istr_core.interactive.exemplars``) instead of the model's. Either way the model's own
    predictions are kept, for the gate to price every option once the image is reviewed."""

    result = Signal(str, object)

    def __init__(
        self,
        segmenter,
        items: list[tuple[str, Path]],
        min_score: float = 0.05,
        snap_edges: bool = False,
        exemplar_sources: ExemplarSources | None = None,
    ):
        super().__init__()
        self.segmenter, self.items, self.min_score = segmenter, list(items), min_score
        self.snap_edges = snap_edges
        self.exemplar_sources = exemplar_sources

    def work(self):
        n = len(self.items)
        for k, (key, path) in enumerate(self.items):
            if self.cancelled:
                return "cancelled"
            self.progress.emit(k, n, f"pre-labelling {key}")
            try:
                image = read_image(path)
            except ImageReadError as e:
                self.progress.emit(k, n, str(e))
                continue
            predictions = self.segmenter.predict(image, score_threshold=self.min_score)
            self.result.emit(key, self._prelabels(image, predictions))
        self.progress.emit(n, n, "pre-labelling done")
        return "cancelled" if self.cancelled else "done"

    def _prelabels(self, image, predictions) -> Prelabels:
        predicted = [encode_mask(p.mask) for p in predictions]
        model = [(float(p.score), p.label, rle) for p, rle in zip(predictions, predicted, strict=True)]
        found = self._exemplars(image)
        if found is not None:
            return Prelabels([(p, encode_mask(p.mask)) for p in found], model, project_labels=True)
        if not self.snap_edges:
            return Prelabels(list(zip(predictions, predicted, strict=True)), model)
        shown = [
            (s, rle if s is p else encode_mask(s.mask))
            for p, s, rle in zip(predictions, snap_predictions(image, predictions), predicted, strict=True)
        ]
        return Prelabels(shown, model)

    def _exemplars(self, image) -> list[Prediction] | None:
        """The objects like the reviewed ones of this image's size; None without any."""
        sources = (self.exemplar_sources or {}).get(tuple(image.shape[:2]))
        if not sources:
            return None
        return objects_like(image, [(read_image(path), masks, labels) for path, masks, labels in sources])


class CallWorker(Worker):
    """Runs one function call off the GUI thread (box -> mask with the model or GrabCut)."""

    def __init__(self, fn, *args):
        super().__init__()
        self.fn, self.args = fn, args

    def work(self):
        return self.fn(*self.args)


class FinetuneWorker(Worker):
    """Runs ``istr_core.train.finetune.finetune``; its progress callback feeds the progress bar."""

    log = Signal(str)

    def __init__(self, annotations: Path, images_dir: Path, out: Path, weights: Path | None, iterations: int):
        super().__init__()
        self.args = (annotations, images_dir, out, weights, iterations)

    def work(self):
        from istr_core.train.finetune import finetune

        annotations, images_dir, out, weights, iterations = self.args
        return finetune(
            annotations,
            images_dir,
            out,
            weights=weights,
            iterations=iterations,
            device="auto",
            progress=self._progress,
            should_stop=self._stop.is_set,
            log=self.log.emit,
        )

    def _progress(self, p: Progress) -> None:
        loss = p.losses.get("loss", float("nan"))  # the sum; the other entries are its terms
        self.progress.emit(p.done, p.total, f"fine-tuning {p.done}/{p.total}, loss {loss:.3f}")


def start(worker: Worker) -> QThread:
    """Run ``worker.run`` in a new QThread that quits when the worker ends.

    The caller keeps both the worker and the thread, and drops them only after :func:`finish`: the
    worker is not ``deleteLater``-ed in its thread, because Python dropping its wrapper at the same
    moment deleted the object twice, from two threads (a segfault in CI). ``isRunning()`` is no
    test for "done" either: it turns False while the thread is still in its finishing code."""
    thread = QThread()
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.finished.connect(thread.quit)
    worker.failed.connect(thread.quit)
    thread.start()
    return thread


def finish(thread: QThread | None, timeout_ms: int = 60000) -> bool:
    """Tell ``thread`` to quit once its worker returns, and wait for it; True when it ended.

    The quit its worker's ``finished`` queues to the GUI thread cannot arrive while that thread is
    blocked here, so without this quit a finished worker's thread would wait out the timeout."""
    if thread is None:
        return True
    thread.quit()
    return thread.wait(timeout_ms)


class WorkerPool:
    """Workers started one per call that may overlap (click-tool predictions, scissors maps): keeps
    each worker and its thread alive until the thread has ended, then lets both go."""

    def __init__(self):
        self._running: list[tuple[Worker, QThread]] = []

    def start(self, worker: Worker) -> None:
        self._running = [(w, t) for w, t in self._running if not _ended(t)]
        self._running.append((worker, start(worker)))

    def wait(self, timeout_ms: int = 60000) -> None:
        """Block until every worker has returned (tests and shutdown)."""
        for _, thread in self._running:
            finish(thread, timeout_ms)
        self._running = [(w, t) for w, t in self._running if not _ended(t)]


def _ended(thread: QThread) -> bool:
    """Whether the thread is past its finishing code (waiting is then immediate)."""
    return thread.isFinished() and thread.wait(0)
