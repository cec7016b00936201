"""Starts and tracks the one background job at a time (pre-label or fine-tune) for the window.

Results come back through queued signals and are applied by the controller on the GUI thread.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from istr_core.interactive import ClickPredictor
from istr_core.interactive.exemplars import objects_like_these

from ..controller import Controller
from .workers import CallWorker, FinetuneWorker, PrelabelWorker, Worker, finish, start


class Jobs(QObject):
    started = Signal(str)
    progress = Signal(int, int, str)
    ended = Signal(str, object)  # kind ("prelabel"/"finetune"), result or error message
    failed = Signal(str)
    log = Signal(str)
    prelabelled = Signal(str, object)  # key, workers.Prelabels: what the image is shown now

    def __init__(self, controller: Controller):
        super().__init__()
        self.controller = controller
        self.worker: Worker | None = None
        self.thread = None
        self.kind = ""
        self.box_worker, self.box_thread, self._box_key = None, None, ""
        self._box_predictor: ClickPredictor | None = None
        self.find_worker, self.find_thread, self._find_key = None, None, ""

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def prelabel(self, keys: list[str]) -> bool:
        """Pre-label ``keys`` in the background; False when no model or another job runs."""
        c = self.controller
        if self.busy or c.segmenter is None or not keys:
            return False
        items = [(k, c.project.record(k).path) for k in keys]
        sources = c.exemplar_sources
        sources = None if sources is None else {size: list(v) for size, v in sources.items()}
        worker = PrelabelWorker(c.segmenter, items, snap_edges=c.snap_edges, exemplar_sources=sources)
        worker.result.connect(c.apply_predictions)
        worker.result.connect(self.prelabelled)
        self._start("prelabel", worker)
        return True

    def finetune(self, iterations: int, out_dir: Path | None = None) -> bool:
        """Fine-tune the current weights on the reviewed images; the new checkpoint goes to
        ``DIR/.istr_models/`` unless ``out_dir`` is given."""
        c = self.controller
        if self.busy:
            return False
        self._tmp = tempfile.TemporaryDirectory(prefix="istr_ft_")
        ann = Path(self._tmp.name) / "reviewed.json"
        if c.write_reviewed(ann) == 0:
            self.failed.emit("no reviewed images yet: review some (Accept all, Ctrl+Enter) first")
            return False
        out_dir = out_dir or c.project.folder / ".istr_models"
        out = out_dir / f"finetuned_{time.strftime('%Y%m%d_%H%M%S')}.pt"
        worker = FinetuneWorker(ann, c.project.folder, out, c.weights, iterations)
        worker.log.connect(self.log)
        self._start("finetune", worker)
        return True

    def box(self, box: tuple[float, float, float, float]) -> bool:
        """Box tool: the object in the box, by :meth:`ClickPredictor.predict_box` (the model's box
        prompt, GrabCut in the box without a model), computed off the GUI thread; the result becomes
        a new instance on the image the box was drawn on. Runs beside a pre-label job; one box at a
        time (so the predictor, which keeps the image's features for the next box, is never shared)."""
        c = self.controller
        if c.image is None or self.box_worker is not None:
            return False
        x0, x1 = sorted((box[0], box[2]))
        y0, y1 = sorted((box[1], box[3]))
        if self._box_predictor is None or self._box_predictor.segmenter is not c.segmenter:
            self._box_predictor = ClickPredictor(c.segmenter)
        self._box_key = c.record.key
        self.box_worker = CallWorker(_mask_in_box, self._box_predictor, c.image.copy(), (x0, y0, x1, y1))
        self.box_worker.finished.connect(self._box_done)
        self.box_worker.failed.connect(self._box_failed)
        self.box_thread = start(self.box_worker)
        return True

    def find_like(self) -> bool:
        """Objects like the ones on the current image (its visible masks), found in the rest of it
        (``istr_core.interactive.exemplars``, no model), computed off the GUI thread; they are added
        as pre-labels with their match scores (the slider filters them, Ctrl+Z removes them). One
        search at a time, beside a pre-label job; False when there is none to look like."""
        c = self.controller
        if c.image is None or self.find_worker is not None:
            return False
        masks, labels = c.reviewed_masks(c.record.key)
        if not len(masks):
            c.message.emit("draw or accept a few objects first: Find like these looks for more like them")
            return False
        self._find_key = c.record.key
        self.find_worker = CallWorker(objects_like_these, c.image.copy(), masks, labels)
        self.find_worker.finished.connect(self._find_done)
        self.find_worker.failed.connect(self._find_failed)
        self.find_thread = start(self.find_worker)
        return True

    def _find_done(self, found) -> None:
        self._find_clear()
        added = self.controller.add_found(self._find_key, found)
        self.controller.message.emit(
            f"found {added} objects like these ({len(found) - added} below the slider's confidence; "
            "Ctrl+Z removes them)"
        )

    def _find_failed(self, message: str) -> None:
        self._find_clear()
        self.controller.message.emit(f"find like these failed: {message}")

    def _find_clear(self) -> None:
        finish(self.find_thread)  # before the worker is let go (workers.start says why)
        self.find_worker, self.find_thread = None, None

    def _box_done(self, mask) -> None:
        self._box_clear()
        if mask is None:
            self.controller.message.emit("no object found in the box")
        else:
            self.controller.add_mask(mask, key=self._box_key)
            self.controller.message.emit("box → mask: a new instance (Ctrl+Z removes it)")

    def _box_failed(self, message: str) -> None:
        self._box_clear()
        self.controller.message.emit(f"box → mask failed: {message}")

    def _box_clear(self) -> None:
        finish(self.box_thread)  # before the worker is let go (workers.start says why)
        self.box_worker, self.box_thread = None, None

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def _start(self, kind: str, worker: Worker) -> None:
        self.kind, self.worker = kind, worker
        worker.progress.connect(self.progress)
        worker.finished.connect(self._finished)
        worker.failed.connect(self._failed)
        self.thread = start(worker)
        self.started.emit(kind)

    def _finished(self, result) -> None:
        kind = self._clear()
        self.ended.emit(kind, result)

    def _failed(self, message: str) -> None:
        self._clear()
        self.failed.emit(message)

    def _clear(self) -> str:
        finish(self.thread)  # before the worker is let go (workers.start says why)
        kind, self.worker, self.kind, self.thread = self.kind, None, "", None
        return kind

    def wait(self, timeout_ms: int = 60000) -> None:
        """Block until the running thread ends (tests and shutdown)."""
        finish(self.thread, timeout_ms)
        finish(self.box_thread, timeout_ms)
        finish(self.find_thread, timeout_ms)


def _mask_in_box(predictor: ClickPredictor, image, box) -> object:
    predictor.set_image(image)  # free when the image is the one of the previous box
    return predictor.predict_box(box)
