"""Online learning in the GUI: each image marked reviewed joins a background training loop whose
newer models are swapped in for pre-labelling as rounds finish.

All learning is :class:`istr_core.train.online.OnlineTrainer` (the same class the simulated annotation
session runs); this module only feeds it from the GUI and hands its snapshots back: a daemon thread
takes reviewed images from a queue, runs rounds of ``steps_per_round`` steps, and emits
``model_ready(segmenter, RoundInfo)``, which the window applies on the GUI thread. Training pauses
on request, idles once ``idle_after_rounds`` rounds have passed with no new image, and stops within
one step when the window closes. After a round (at most every ``save_every_s``) the trainer is
saved atomically, optimiser state included, so a crash loses at most that much learning, and
``istr-app --weights FILE`` continues it.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from istr_core.data.images import read_image
from istr_core.predict.segmenter import Segmenter
from istr_core.train.checkpoint import Checkpoint, save_checkpoint
from istr_core.train.online import OnlineConfig, OnlineTrainer


@dataclass(frozen=True)
class RoundInfo:
    round: int
    step: int
    images: int  # reviewed images the model has learned from
    finished_at: float  # time.time()


@dataclass(frozen=True)
class Reviewed:
    key: str
    path: Path
    masks: np.ndarray  # (M, H, W) bool
    labels: np.ndarray  # (M,) indices into class_names
    class_names: tuple[str, ...]  # the project's classes when it was reviewed (they only grow)


class OnlineLoop(QObject):
    model_ready = Signal(object, object)  # Segmenter, RoundInfo
    state_changed = Signal(str)  # "training", "idle", "paused", "stopped"
    failed = Signal(str)

    def __init__(
        self,
        base: Checkpoint,
        steps_per_round: int = 20,
        save_path: Path | None = None,
        config: OnlineConfig | None = None,
        device: str = "cpu",
        idle_after_rounds: int = 5,
        save_every_s: float = 60.0,
    ):
        super().__init__()
        self.base, self.config, self.device = base, config or OnlineConfig(), device
        self.steps_per_round, self.idle_after_rounds = steps_per_round, idle_after_rounds
        self.save_path, self.save_every_s = save_path, save_every_s
        self.trainer: OnlineTrainer | None = None  # touched by the loop thread only
        self._queue: queue.Queue[Reviewed] = queue.Queue()
        self._wake, self._stop, self._paused = threading.Event(), threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self.state = "idle"

    # -- GUI thread --------------------------------------------------------------------------------
    def add_reviewed(self, item: Reviewed) -> None:
        """Queue a reviewed image; the first one starts the loop thread."""
        self._queue.put(item)
        self._wake.set()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="istr-online-loop", daemon=True)
            self._thread.start()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def set_paused(self, paused: bool) -> None:
        (self._paused.set if paused else self._paused.clear)()
        self._wake.set()  # the loop thread reports "paused" once the step in flight has ended

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """End the loop (within one training step); True when the thread has ended."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.running

    # -- loop thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        except Exception as e:  # noqa: BLE001 - shown as one line; the annotator's work is unaffected
            traceback.print_exc()
            self.failed.emit(f"online learning stopped: {type(e).__name__}: {e}")
        self._set_state("stopped")

    def _loop(self) -> None:
        quiet_rounds, last_save = 0, time.monotonic()
        while not self._stop.is_set():
            if self._take_new_images():
                quiet_rounds = 0
            if self._paused.is_set() or self.trainer is None or quiet_rounds >= self.idle_after_rounds:
                self._set_state("paused" if self._paused.is_set() else "idle")
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            self._set_state("training")
            steps = self.trainer.train_for(
                steps=self.steps_per_round, should_stop=lambda: self._stop.is_set() or self._paused.is_set()
            )
            if steps == 0 or self._stop.is_set():
                continue
            quiet_rounds += 1
            t = self.trainer
            snapshot = t.checkpoint(with_train_state=False)
            info = RoundInfo(t.round, t.step, len(t.examples), time.time())
            self.model_ready.emit(Segmenter(snapshot, self.device), info)
            if self.save_path is not None and time.monotonic() - last_save >= self.save_every_s:
                self.save()
                last_save = time.monotonic()
        if self.save_path is not None and self.trainer is not None and self.trainer.step:
            self.save()

    def save(self) -> None:
        """Write the trainer (optimiser state included) atomically to ``save_path``."""
        self.save_path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(self.save_path, self.trainer.checkpoint())

    def _take_new_images(self) -> bool:
        """Move queued reviewed images into the trainer (reading them here, off the GUI thread)."""
        taken = False
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return taken
            self._ensure_trainer(list(item.class_names))
            self.trainer.add_example(item.key, read_image(item.path), item.masks, item.labels)
            taken = True

    def _ensure_trainer(self, class_names: list[str]) -> None:
        """A trainer for ``class_names``; a class added since re-heads it (rows of known classes kept)."""
        if self.trainer is None:
            self.trainer = OnlineTrainer.from_checkpoint(self.base, self.device, class_names, self.config)
        elif class_names != self.trainer.class_names:
            self.trainer = self.trainer.with_classes(class_names)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)
