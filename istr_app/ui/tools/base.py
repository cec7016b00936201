"""What every canvas tool is: gestures in image pixels in, controller requests and a draft out."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen


class CanvasTool:
    """One mode of the canvas. The canvas calls ``press``/``move``/``release``/``double_click``
    with image coordinates (tests call the canvas's ``tool_*`` methods, which land here), ``enter``
    on Return; Esc, a tool change or a new image end the gesture in progress."""

    name = ""
    shows_brush = False  # the brush-size circle follows the cursor

    def __init__(self, canvas):
        self.canvas = canvas
        self.points: list[tuple[float, float]] = []  # the gesture in progress
        self.pressed = False

    @property
    def controller(self):
        return self.canvas.controller

    def activate(self) -> None:
        """The tool was chosen."""

    def end_gesture(self) -> None:
        """Forget the gesture in progress (it was finished, or dropped)."""
        self.points, self.pressed = [], False

    def press(self, x: float, y: float, right: bool, modifiers: Qt.KeyboardModifier) -> None:
        pass

    def move(self, x: float, y: float) -> None:
        pass

    def release(self, x: float, y: float, right: bool) -> None:
        pass

    def double_click(self, x: float, y: float) -> None:
        pass

    def enter(self) -> bool:
        """Return or Enter was pressed; False when the tool has no use for it."""
        return False

    def undo(self) -> bool:
        """Ctrl+Z: undo a step of the gesture in progress; False when there is none (the project's
        undo runs instead)."""
        return False

    def delete(self) -> bool:
        """Delete / Backspace inside the tool; False when it has no use for it (the selection is
        deleted instead)."""
        return False

    def draft(self, cursor: tuple[float, float] | None) -> tuple[QPainterPath, QPen]:
        """The gesture in progress as a path (yellow by default); empty when there is none."""
        return QPainterPath(), QPen(QColor(255, 255, 0), 0)


class DragTool(CanvasTool):
    """A tool whose gesture is a left-button drag from press to release."""

    def press(self, x, y, right, modifiers) -> None:
        if not right:
            self.pressed, self.points = True, [(x, y)]
            self.canvas.redraw_draft()


def polyline(points: list[tuple[float, float]]) -> QPainterPath:
    path = QPainterPath()
    if points:
        path.moveTo(QPointF(*points[0]))
        for p in points[1:]:
            path.lineTo(QPointF(*p))
    return path
