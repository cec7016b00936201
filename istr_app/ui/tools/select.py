"""Select tool: click an instance to select it, Ctrl+click to add it to (or take it from) the selection."""

from __future__ import annotations

from PySide6.QtCore import Qt

from .base import CanvasTool


class SelectTool(CanvasTool):
    name = "select"

    def press(self, x, y, right, modifiers) -> None:
        self.canvas.select_at(x, y, toggle=bool(modifiers & Qt.KeyboardModifier.ControlModifier))
