"""The scissors tool's edge maps, built off the GUI thread; all edge work is ``istr_core``'s.

Each anchor of an edge-snapping polygon needs its map of best paths
(:meth:`istr_core.interactive.Scissors.anchor`: about 0.05-0.1 s for its 512 px window on a
1280x1024 frame, 2-core machine); once it is there, the path from that anchor to the cursor costs
about 0.1 ms and is drawn live. ``AnchorMaps.request`` builds one in a worker thread and emits
``ready(index)`` on the GUI thread; results for a dropped drawing (``cancel``) or a removed anchor
are ignored. The last few maps are kept, so removing an anchor shows the previous one's paths at once.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from istr_core.interactive import Scissors
from istr_core.interactive.scissors import AnchorMap

from ..controller import Controller
from .workers import CallWorker, WorkerPool

KEEP = 4  # maps kept, the newest anchors' (about 4 MB each)


class AnchorMaps(QObject):
    ready = Signal(int)  # the anchor index whose map arrived

    def __init__(self, controller: Controller):
        super().__init__()
        self.controller = controller
        self.maps: dict[int, AnchorMap] = {}
        self._scissors: tuple[np.ndarray, Scissors] | None = None  # (the image, its Scissors)
        self._generation, self._in_flight, self._pool = 0, 0, WorkerPool()

    @property
    def busy(self) -> bool:
        return self._in_flight > 0

    def get(self, index: int, anchor: tuple[int, int]) -> AnchorMap | None:
        """The map of anchor ``index`` when it is built and still for that point."""
        m = self.maps.get(index)
        return m if m is not None and m.anchor == anchor else None

    def clamp(self, x: float, y: float) -> tuple[int, int] | None:
        """(x, y) as the anchor pixel its map is built at; None without an image."""
        scissors = self._for_image()
        return None if scissors is None else scissors.clamp(x, y)

    def request(self, index: int, anchor: tuple[int, int]) -> None:
        """Build the map of anchor ``index`` at ``anchor`` (a pixel from ``clamp``) in the background."""
        scissors = self._for_image()
        if scissors is None or self.get(index, anchor) is not None:
            return
        generation = self._generation
        worker = CallWorker(lambda: (generation, index, scissors.anchor(*anchor)))
        worker.finished.connect(self._done)
        worker.failed.connect(self._failed)
        self._in_flight += 1
        self._pool.start(worker)

    def drop_after(self, count: int) -> None:
        """Forget the maps of anchors ``count`` and later (they were removed)."""
        self.maps = {i: m for i, m in self.maps.items() if i < count}

    def cancel(self) -> None:
        """The drawing is over: forget every map; builds still running are ignored."""
        self._generation += 1
        self.maps = {}

    def _for_image(self) -> Scissors | None:
        image = self.controller.image
        if image is None:
            return None
        if self._scissors is None or self._scissors[0] is not image:
            self._scissors = (image, Scissors(np.asarray(image)))
        return self._scissors[1]

    def _done(self, payload) -> None:
        self._in_flight -= 1
        generation, index, anchor_map = payload
        if generation != self._generation:
            return
        self.maps[index] = anchor_map
        self.ready.emit(index)  # the tool takes its segment first, then the oldest maps go
        for old in sorted(self.maps)[:-KEEP]:
            del self.maps[old]

    def _failed(self, message: str) -> None:
        self._in_flight -= 1
        self.controller.message.emit(f"scissors tool: {message}")

    def wait(self, timeout_ms: int = 60000) -> None:
        """Block until the background builds end (tests and shutdown)."""
        self._pool.wait(timeout_ms)
