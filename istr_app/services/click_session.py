"""The click tool's state and its background predictions; all segmentation is ``istr_core``'s.

``ClickSession`` keeps the pending clicks (and a box prompt, and the instance being refined), asks
``istr_core.interactive.ClickPredictor`` for a mask after every change, off the GUI thread, and
emits ``mask_changed``. The predictor's image features are computed in the background as soon as an
image opens, so a click costs only the model's head. Enter (``accept``) turns the mask into a new
instance, or into the new mask of the instance being refined: one undo step either way.
"""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QObject, Signal

from istr_core.interactive import Click, ClickPredictor

from ..controller import Controller
from .workers import CallWorker, WorkerPool


class ClickSession(QObject):
    mask_changed = Signal()  # ``mask`` or the clicks changed (the canvas redraws the draft)

    def __init__(self, controller: Controller):
        super().__init__()
        self.controller = controller
        self.clicks: list[Click] = []
        self.box: tuple[float, float, float, float] | None = None
        self.target_id: int | None = None  # the instance being refined, or None for a new one
        self.start_mask: np.ndarray | None = None
        self.mask: np.ndarray | None = None
        self._lock = threading.Lock()  # one predictor call at a time (features vs clicks)
        self._predictor = ClickPredictor(controller.click_segmenter)
        self._ready: tuple[int, str] | None = None  # (predictor id, image key) the features are for
        self._generation = 0
        self._in_flight, self._pool = 0, WorkerPool()
        controller.current_changed.connect(self._on_image)
        controller.model_changed.connect(self._on_model)
        controller.click_path_changed.connect(self._on_model)

    # ----- session ------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._in_flight > 0

    def begin(self) -> None:
        """Start a session: an instance selected now is the one the clicks refine."""
        self.cancel()
        target = self.controller.selected_instance()
        image = self.controller.image
        if target is not None and image is not None and target.mask.shape == image.shape[:2]:
            self.target_id, self.start_mask = target.id, target.mask.copy()
            self.mask = self.start_mask
        self.mask_changed.emit()

    def add_click(self, x: float, y: float, positive: bool) -> None:
        self.clicks.append(Click(positive, float(x), float(y)))
        self._predict()

    def set_box(self, box: tuple[float, float, float, float]) -> None:
        x0, x1 = sorted((box[0], box[2]))
        y0, y1 = sorted((box[1], box[3]))
        self.box = (x0, y0, x1, y1)
        self._predict()

    def undo_click(self) -> bool:
        """Remove the last click (or else the box); False when nothing was pending."""
        if self.clicks:
            self.clicks.pop()
        elif self.box is not None:
            self.box = None
        else:
            return False
        self._predict()
        return True

    @property
    def pending(self) -> bool:
        return bool(self.clicks) or self.box is not None

    def accept(self) -> bool:
        """The current mask becomes an instance (or the refined instance's mask); False when there is
        nothing to accept yet (no prompt, or the prediction is still running)."""
        c = self.controller
        if not self.pending or self.mask is None or self.busy or c.record is None:
            return False
        mask, target = self.mask, self.target_id
        self.cancel()
        if target is not None and c.record.find(target) is not None:
            c.set_mask(target, mask)
            c.select([target] if c.record.find(target) is not None else [])
        elif mask.any():
            c.add_mask(mask)
        return True

    def cancel(self) -> None:
        """Drop the clicks, the box and the draft; results still running are ignored."""
        self._generation += 1
        self.clicks, self.box, self.target_id, self.start_mask, self.mask = [], None, None, None, None
        self.mask_changed.emit()

    # ----- background work --------------------------------------------------------------------------
    def _on_model(self) -> None:
        self._predictor = ClickPredictor(self.controller.click_segmenter)
        self._ready = None
        self._on_image()

    def _on_image(self) -> None:
        """A new image: drop the session, compute the features in the background now."""
        self.cancel()
        c = self.controller
        if c.image is not None and c.record is not None:
            self._run(self._prepare, c.record.key, c.image)

    def _prepare(self, key: str, image: np.ndarray) -> None:
        with self._lock:
            if self._ready != (id(self._predictor), key):
                self._predictor.set_image(image)
                self._ready = (id(self._predictor), key)

    def _predict(self) -> None:
        c = self.controller
        self._generation += 1
        if c.image is None or c.record is None:
            return
        if not self.pending:
            self.mask = self.start_mask
            self.mask_changed.emit()
            return
        args = (c.record.key, c.image, list(self.clicks), self.box, self.start_mask)
        self._run(self._compute, *args, generation=self._generation)
        self.mask_changed.emit()

    def _compute(self, key, image, clicks, box, start_mask):
        self._prepare(key, image)
        with self._lock:
            return self._predictor.predict(clicks, box, start_mask)

    def _run(self, fn, *args, generation: int | None = None) -> None:
        """``fn(*args)`` in a worker thread; its result comes back to ``_done`` on the GUI thread
        (a queued signal into this QObject), tagged with ``generation`` so stale results are dropped."""
        worker = CallWorker(lambda: (generation, fn(*args)))
        worker.finished.connect(self._done)
        worker.failed.connect(self._failed)
        self._in_flight += 1
        self._pool.start(worker)

    def _done(self, payload) -> None:
        self._in_flight -= 1
        generation, result = payload
        if generation is not None and generation == self._generation and isinstance(result, np.ndarray):
            self.mask = result
            self.mask_changed.emit()

    def _failed(self, message: str) -> None:
        self._in_flight -= 1
        self.controller.message.emit(f"click tool: {message}")

    def wait(self, timeout_ms: int = 60000) -> None:
        """Block until the background calls end (tests and shutdown)."""
        self._pool.wait(timeout_ms)
