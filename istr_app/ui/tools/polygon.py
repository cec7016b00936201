"""Polygon tool: click the vertices; Enter, a double-click or a click on the first vertex closes the
polygon into a new instance; right-click removes the last vertex."""

from __future__ import annotations

import numpy as np

from ...core.geometry import polygon_mask
from .base import CanvasTool, polyline

CLOSE_DISTANCE = 8.0  # screen pixels from the first vertex that close the polygon


class PolygonTool(CanvasTool):
    name = "polygon"

    def press(self, x, y, right, modifiers) -> None:
        if right:
            self.points = self.points[:-1]
        elif len(self.points) >= 3 and np.hypot(
            x - self.points[0][0], y - self.points[0][1]
        ) <= self.canvas.pixel_tolerance(CLOSE_DISTANCE):
            self.finish()
            return
        else:
            self.points.append((x, y))
        self.canvas.redraw_draft()

    def move(self, x, y) -> None:
        if self.points:
            self.canvas.redraw_draft((x, y))

    def double_click(self, x, y) -> None:
        self.finish()

    def enter(self) -> bool:
        self.finish()
        return True

    def finish(self) -> None:
        """Close the polygon being drawn into a new instance (Enter / double-click / first vertex)."""
        points = _dedup(self.points)
        self.canvas.clear_draft()
        image = self.controller.image
        if len(points) >= 3 and image is not None:
            self.controller.add_mask(polygon_mask(image.shape[:2], points))

    def draft(self, cursor):
        path, pen = super().draft(cursor)
        return polyline(self.points + ([cursor] if cursor else [])), pen


def _dedup(points):
    out = []
    for p in points:
        if not out or np.hypot(p[0] - out[-1][0], p[1] - out[-1][1]) > 0.5:
            out.append(p)
    return out
