"""Scissors tool, an edge-snapping polygon (a "magnetic lasso"): each click adds an anchor, and the
path from the last anchor to the cursor follows the strongest edges, drawn live. A click on the first
anchor, a double-click or Enter closes the polygon into a new instance (one undo step, as with the
polygon tool); Backspace, Ctrl+Z or a right-click removes the last anchor; Esc drops the drawing.

The paths are ``istr_core.interactive.Scissors``'s; each anchor's map of paths is built in the
background (``services.anchor_maps``), a straight line standing in until it arrives.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QRectF

from ...core.geometry import polygon_mask
from ...services.anchor_maps import AnchorMaps
from .base import CanvasTool, polyline
from .polygon import CLOSE_DISTANCE

ANCHOR_SIZE = 3.0  # screen pixels: half the side of an anchor's square


class ScissorsTool(CanvasTool):
    name = "scissors"

    def __init__(self, canvas):
        super().__init__(canvas)
        self.maps = AnchorMaps(canvas.controller)
        self.maps.ready.connect(self._map_ready)
        # self.points: the anchors, (x, y) ints; segments[k]: the path from anchor k to k + 1, None
        # while anchor k's map is being built
        self.segments: list[np.ndarray | None] = []
        self.cursor: tuple[float, float] | None = None
        self.closing = False  # closed, waiting for a map to finish the polygon

    def end_gesture(self) -> None:
        super().end_gesture()
        self.segments, self.closing = [], False
        self.maps.cancel()

    # ----- gestures -----------------------------------------------------------------------------
    def press(self, x, y, right, modifiers) -> None:
        if right:
            self.undo_anchor()
        elif self.closing:
            return
        elif len(self.points) >= 2 and np.hypot(
            x - self.points[0][0], y - self.points[0][1]
        ) <= self.canvas.pixel_tolerance(CLOSE_DISTANCE):
            self.close()
        else:
            self.add_anchor(x, y)

    def move(self, x, y) -> None:
        self.cursor = (x, y)
        if self.points:
            self.canvas.redraw_draft(self.cursor)

    def double_click(self, x, y) -> None:
        self.close()

    def enter(self) -> bool:
        self.close()
        return True

    def undo(self) -> bool:
        return self.undo_anchor()

    def delete(self) -> bool:
        return self.undo_anchor()

    # ----- anchors ----------------------------------------------------------------------------------
    def add_anchor(self, x: float, y: float) -> None:
        anchor = self.maps.clamp(x, y)
        if anchor is None or (self.points and anchor == self.points[-1]):
            return
        if self.points:
            self.segments.append(self._path(len(self.points) - 1, anchor))
        self.points.append(anchor)
        self.maps.request(len(self.points) - 1, anchor)
        self._redraw()

    def undo_anchor(self) -> bool:
        """Remove the last anchor (Backspace, Ctrl+Z, right-click); False when there is none."""
        if not self.points:
            return False
        self.points.pop()
        self.segments = self.segments[: max(len(self.points) - 1, 0)]
        self.closing = False
        self.maps.drop_after(len(self.points))
        if self.points:
            self.maps.request(len(self.points) - 1, self.points[-1])  # if it was dropped
        else:
            self.canvas.clear_draft()
        self._redraw()
        return True

    def close(self) -> None:
        """Close the polygon (first anchor, double-click, Enter): a new instance as soon as every path
        is known."""
        if len(self.points) < 2:
            if self.points:
                self.controller.message.emit("scissors tool: place a second anchor before closing")
            return
        self.closing = True
        self._finish()

    def _finish(self) -> None:
        back = self._path(len(self.points) - 1, self.points[0])
        if back is None or any(s is None for s in self.segments):
            self.controller.message.emit("scissors tool: closing as soon as the edge map is ready…")
            self._redraw()
            return
        polygon = np.vstack([*self.segments, back])
        self.canvas.clear_draft()
        image = self.controller.image
        if image is None:
            return
        if abs(cv2.contourArea(polygon.astype(np.float32))) < 1.0:
            self.controller.message.emit("scissors tool: the paths enclose nothing (add an anchor)")
            return
        self.controller.add_mask(polygon_mask(image.shape[:2], polygon))

    def _path(self, k: int, target) -> np.ndarray | None:
        """The path from anchor ``k`` to ``target`` when its map is there."""
        anchor_map = self.maps.get(k, self.points[k])
        return None if anchor_map is None else anchor_map.path_to(*target)

    def _map_ready(self, k: int) -> None:
        if k < len(self.segments) and self.segments[k] is None:
            self.segments[k] = self._path(k, self.points[k + 1])
        if self.closing:
            self._finish()
        else:
            self._redraw()

    def _redraw(self) -> None:
        if self.canvas.active is self and self.points:
            self.canvas.redraw_draft(self.cursor)

    # ----- drawing ----------------------------------------------------------------------------------
    def draft(self, cursor):
        _, pen = super().draft(cursor)
        points: list = [self.points[0]] if self.points else []
        for k, segment in enumerate(self.segments):
            points += [self.points[k + 1]] if segment is None else segment.tolist()
        if cursor is not None and self.points and not self.closing:
            live = self._path(len(self.points) - 1, cursor)
            points += [cursor] if live is None else live.tolist()
        path = polyline(points)
        r = self.canvas.pixel_tolerance(ANCHOR_SIZE)
        for x, y in self.points:
            path.addRect(QRectF(x - r, y - r, 2 * r, 2 * r))
        return path, pen
