"""Box tool: drag a box; the window turns it into a mask in the background (the model's box
prompt, GrabCut without a model) and adds it as a new instance."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QPainterPath

from .base import DragTool


class BoxTool(DragTool):
    name = "box"

    def move(self, x, y) -> None:
        if self.pressed:
            self.points[1:] = [(x, y)]
            self.canvas.redraw_draft()

    def release(self, x, y, right) -> None:
        if right or not self.pressed:
            return
        (x0, y0) = self.points[0]
        self.canvas.clear_draft()
        self.canvas.box_drawn.emit((x0, y0, x, y))

    def draft(self, cursor):
        path, pen = super().draft(cursor)
        return rectangle(self.points), pen


def rectangle(points) -> QPainterPath:
    """The box spanned by the first and the last point (empty until the drag has two)."""
    path = QPainterPath()
    if len(points) == 2:
        path.addRect(QRectF(QPointF(*points[0]), QPointF(*points[1])).normalized())
    return path
