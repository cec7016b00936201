"""The pre-label gate in the GUI: after each reviewed image, what its pre-labels would have cost at
every threshold, against clicking every object, decides the threshold of the next images,
whether the click tool uses the model or its weight-free path, whether the pre-labels' outlines
are snapped to the image's edges, and whether the next images show the objects found like the
reviewed ones of their size instead of the model's (``sources`` keeps the last reviewed images of
each size for that), or nothing until the annotator has made the first few objects, then the objects
like those on the same image.

All pricing and deciding is :mod:`istr_core.eval.gate` (the session benchmark's gate). This module
keeps what each image was shown when it was pre-labelled (its predictions down to the worker's 0.05,
as RLE, before the annotator touched them), prices a reviewed image off the GUI thread (the click
tool's simulation runs the model's head per click, and the edge-snapping polygon's anchors where the
clicks need more than three: seconds on a crowded image), one image at a time,
and emits ``decided(GateDecision)`` on the GUI thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from istr_core.data.images import read_image
from istr_core.data.rle import rle_to_mask
from istr_core.eval.annotation_cost import CostModel
from istr_core.eval.click_tool import InteractiveClickTool
from istr_core.eval.gate import (
    EXEMPLAR_IMAGES,
    MODEL,
    WEIGHT_FREE,
    PrelabelGate,
    PricedImage,
    exemplars_to_price,
    outlines_to_price,
    price_outlines,
    seeded_to_price,
)

from .workers import CallWorker, ExemplarSources, finish, start


@dataclass(frozen=True)
class Shown:
    """An image's pre-labels as the annotator got them: RLEs of the model's outlines (before any
    snapping to the image's edges), scores, project class indices."""

    rles: list[dict]
    scores: list[float]
    labels: list[int]


@dataclass(frozen=True)
class ToPrice:
    key: str
    path: Path
    shown: Shown
    masks: np.ndarray  # (M, H, W) bool: the reviewed masks, the truth
    labels: np.ndarray  # (M,)
    segmenter: object  # the model (None: there is none; the click tool is priced weight-free only)
    classes: bool  # more than one class: a wrong label costs a relabel


class GateService(QObject):
    decided = Signal(object)  # GateDecision
    failed = Signal(str)

    def __init__(
        self,
        window: int = 3,
        default: float = 0.3,
        cost: CostModel | None = None,
        snap_edges: bool = False,
        exemplars: bool = False,
        seeded: bool = False,
    ):
        super().__init__()
        self.gate = PrelabelGate(window, default, snap_edges=snap_edges, exemplars=exemplars, seeded=seeded)
        self.cost = cost or CostModel()
        self.last_pricing_s = 0.0
        self._shown: dict[str, Shown] = {}
        self._queue: list[ToPrice] = []
        self.worker, self.thread, self._item = None, None, None
        # the last priced images of each size (path, masks, labels): what exemplars are found from
        self.sources: ExemplarSources = {}

    @property
    def busy(self) -> bool:
        return self.worker is not None or bool(self._queue)

    def remember(self, key: str, shown: Shown) -> None:
        """What ``key`` shows now (the newest pre-labelling replaces an older one)."""
        self._shown[key] = shown

    def price(self, item: ToPrice) -> None:
        """Price a reviewed image in the background (queued behind one in flight)."""
        self._queue.append(item)
        self._next()

    def add_source(self, path: Path, masks: np.ndarray, labels: np.ndarray) -> None:
        """A reviewed image's masks as exemplars for the next images of its size (the last
        EXEMPLAR_IMAGES of each size; an image reviewed again replaces its earlier masks)."""
        if not len(masks):
            return
        size = (int(masks.shape[1]), int(masks.shape[2]))
        kept = [s for s in self.sources.get(size, []) if s[0] != path]
        self.sources[size] = [*kept, (path, masks, labels)][-EXEMPLAR_IMAGES:]

    def take_shown(self, key: str) -> Shown | None:
        """The pre-labels ``key`` was shown, once: a second review of the image is not priced again."""
        return self._shown.pop(key, None)

    def _next(self) -> None:
        if self.worker is not None or not self._queue:
            return
        item = self._item = self._queue.pop(0)
        sources = {size: list(v) for size, v in self.sources.items()}
        self.worker = CallWorker(_price, item, self.gate, self.cost, sources)
        self.worker.finished.connect(self._done)
        self.worker.failed.connect(self._failed)
        self.thread = start(self.worker)

    def _done(self, result: tuple[PricedImage, float]) -> None:
        priced, self.last_pricing_s = result
        self.add_source(self._item.path, self._item.masks, self._item.labels)
        self._clear()
        self.decided.emit(self.gate.add(priced))
        self._next()

    def _failed(self, message: str) -> None:
        self._clear()
        self.failed.emit(f"pricing the pre-labels failed: {message}")
        self._next()

    def _clear(self) -> None:
        finish(self.thread)  # before the worker is let go (workers.start says why)
        self.worker, self.thread = None, None

    def stop(self, timeout_ms: int = 60000) -> None:
        """Shutdown: drop the images waiting to be priced and wait for the one in flight."""
        self._queue.clear()
        finish(self.thread, timeout_ms)


def _price(
    item: ToPrice, gate: PrelabelGate, cost: CostModel, sources: ExemplarSources
) -> tuple[PricedImage, float]:
    """Off the GUI thread: the reviewed image's shown pre-labels priced at every threshold of
    ``gate``, with the click tool's model path and (where the gate chooses the path) its weight-free
    path, each with the model's outlines, (where the gate may snap) with them snapped to the image's
    edges, and (where the gate may show them) the objects found like the reviewed ones of its size
    in ``sources``, and (where the gate may seed) the objects like its first few found after those
    were clicked (the session benchmark's pricing). Reads only the gate's fixed settings."""
    started = time.monotonic()
    image = read_image(item.path)
    found = None
    if gate.exemplars:
        before = [(read_image(p), m, k) for p, m, k in sources.get(tuple(image.shape[:2]), [])]
        found = exemplars_to_price(image, before, (item.masks, item.labels))
    seeded = seeded_to_price(image, (item.masks, item.labels)) if gate.seeded else None
    masks = [rle_to_mask(r).astype(bool) for r in item.shown.rles]
    outlines = outlines_to_price(image, masks, gate.snap_edges)
    tool = InteractiveClickTool(cost.accept_iou, cost.max_clicks)
    counters = {MODEL: tool.for_image(item.segmenter, image)}
    if item.segmenter is not None and gate.choose_click_path:
        counters[WEIGHT_FREE] = tool.for_image(None, image)
    labels = (item.shown.labels, item.labels.tolist()) if item.classes else (None, None)
    tables = price_outlines(
        outlines, item.shown.scores, item.masks, cost, counters, *labels, gate.thresholds, found, seeded
    )
    return PricedImage.from_tables(item.key, tables, image.shape[:2]), time.monotonic() - started
