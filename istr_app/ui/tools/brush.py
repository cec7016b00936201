"""Brush and eraser: a stroke of the controller's brush radius, into the selected instance (or a
new one), or out of it (with nothing selected, out of every visible instance it touches)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPen

from .base import DragTool, polyline


class BrushTool(DragTool):
    name = "brush"
    shows_brush = True
    erase = False
    colour = QColor(80, 255, 80, 120)

    def move(self, x, y) -> None:
        if self.pressed:
            self.points.append((x, y))
            self.canvas.redraw_draft()

    def release(self, x, y, right) -> None:
        if right or not self.pressed:
            return
        points = self.points + [(x, y)]
        self.canvas.clear_draft()
        self.controller.paint(points, erase=self.erase)

    def draft(self, cursor):
        path = polyline(self.points)
        if self.points:
            path.lineTo(QPointF(*self.points[-1]) + QPointF(0.01, 0))  # a dot for a single press
        width = 2 * self.controller.brush_radius
        pen = QPen(
            self.colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin
        )
        return path, pen


class EraserTool(BrushTool):
    name = "eraser"
    erase = True
    colour = QColor(255, 80, 80, 120)
