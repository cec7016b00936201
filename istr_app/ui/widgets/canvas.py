"""The image canvas: shows the image and the cached overlay, and turns gestures into edit requests.

Mouse handlers only translate to image coordinates and call the gesture methods ``tool_press``,
``tool_move``, ``tool_release``, ``tool_double_click`` (which tests call directly); they go to the
active tool (``istr_app.ui.tools``, one module per tool), whose finished gesture becomes one
controller request, i.e. one undo step.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
)

from ...controller import Controller
from ..images import to_pixmap
from ..tools import TOOLS
from .render import render_overlay


class Canvas(QGraphicsView):
    tool_changed = Signal(str)
    cursor_moved = Signal(float, float)
    box_drawn = Signal(tuple)  # (x0, y0, x1, y1) image pixels; the window runs it in a worker

    def __init__(self, controller: Controller, parent=None):
        super().__init__(parent)
        self.controller = controller
        self.setScene(QGraphicsScene(self))
        self.image_item = QGraphicsPixmapItem()
        self.overlay_item = QGraphicsPixmapItem()
        self.draft_item = QGraphicsPathItem()
        for z, item in enumerate((self.image_item, self.overlay_item, self.draft_item)):
            item.setZValue(z)
            self.scene().addItem(item)
        self.brush_item = QGraphicsEllipseItem()  # brush/eraser size preview under the cursor
        self.brush_item.setZValue(4)
        self.brush_item.setPen(QPen(QColor(255, 255, 255), 0))
        self.brush_item.hide()
        self.scene().addItem(self.brush_item)
        self.tools = {name: cls(self) for name, cls in TOOLS.items()}
        self.active = self.tools["select"]
        self.vertex, self.clicks = self.tools["vertex"], self.tools["click"].session
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setMouseTracking(True)
        self.setBackgroundBrush(QColor(40, 40, 40))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from, self._space = None, False
        self.overlay_rgba: np.ndarray | None = None
        self._overlay_pending = False
        self._auto_fit = True
        controller.current_changed.connect(self._on_image)
        controller.instances_changed.connect(self.schedule_overlay)
        controller.selection_changed.connect(self.schedule_overlay)

    # ----- display --------------------------------------------------------------------------
    def _on_image(self) -> None:
        image = self.controller.image
        self.cancel_draft()
        if image is None:
            self.image_item.setPixmap(QPixmap())
            return
        self.image_item.setPixmap(to_pixmap(image))
        self.scene().setSceneRect(QRectF(0, 0, image.shape[1], image.shape[0]))
        self.fit()

    def schedule_overlay(self) -> None:
        """One edit emits several change signals; the overlay is rebuilt once, when control returns
        to the event loop (before the next paint)."""
        if not self._overlay_pending:
            self._overlay_pending = True
            QTimer.singleShot(0, self.refresh_overlay)

    def refresh_overlay(self) -> None:
        """Rebuild the cached overlay pixmap now; never called from paintEvent."""
        self._overlay_pending = False
        c = self.controller
        if c.image is None:
            self.overlay_item.setPixmap(QPixmap())
            return
        self.overlay_rgba = render_overlay(c.image.shape[:2], c.visible_instances(), set(c.selection))
        self.overlay_item.setPixmap(to_pixmap(self.overlay_rgba))
        self.vertex.reload()

    def fit(self) -> None:
        """Whole image in view; stays fitted on window resizes until the user zooms."""
        self._auto_fit = True
        if self.controller.image is not None:
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
            self.vertex.redraw()

    def zoom(self, factor: float) -> None:
        scale = self.transform().m11() * factor
        if 0.02 < scale < 64:
            self._auto_fit = False
            self.scale(factor, factor)
            self.vertex.redraw()

    def pixel_tolerance(self, pixels: float = 6.0) -> float:
        """``pixels`` screen pixels in image units at the current zoom (for hit tests)."""
        return pixels / max(self.transform().m11(), 1e-6)

    # ----- tools ----------------------------------------------------------------------------
    @property
    def tool(self) -> str:
        return self.active.name

    def set_tool(self, tool: str) -> None:
        assert tool in TOOLS, tool
        self.cancel_draft()
        self.active = self.tools[tool]
        self.brush_item.hide()
        self.vertex.reload()
        self.active.activate()
        self.tool_changed.emit(tool)

    def cancel_draft(self) -> None:
        """Drop the drawing in progress, the click tool's pending clicks included (Esc)."""
        self.clear_draft()
        if self.clicks.pending or self.clicks.target_id is not None:
            self.clicks.cancel()

    def clear_draft(self) -> None:
        """The active tool's gesture is over (finished or dropped): forget it, erase its draft."""
        self.active.end_gesture()
        self.draft_item.setPath(QPainterPath())

    def redraw_draft(self, cursor: tuple[float, float] | None = None) -> None:
        self.show_draft(*self.active.draft(cursor))

    def show_draft(self, path: QPainterPath, pen: QPen) -> None:
        self.draft_item.setPen(pen)
        self.draft_item.setBrush(QBrush(Qt.BrushStyle.NoBrush))
        self.draft_item.setPath(path)

    def tool_press(
        self, x: float, y: float, button=Qt.MouseButton.LeftButton, modifiers=Qt.KeyboardModifier.NoModifier
    ) -> None:
        self.active.press(x, y, button == Qt.MouseButton.RightButton, modifiers)

    def tool_move(self, x: float, y: float) -> None:
        self.cursor_moved.emit(x, y)
        self._show_brush_cursor(x, y)
        self.active.move(x, y)

    def tool_release(self, x: float, y: float, button=Qt.MouseButton.LeftButton) -> None:
        self.active.release(x, y, button != Qt.MouseButton.LeftButton)

    def tool_double_click(self, x: float, y: float) -> None:
        self.active.double_click(x, y)

    def finish_polygon(self) -> None:
        """Close the polygon being drawn into a new instance (Enter / double-click / first vertex)."""
        self.tools["polygon"].finish()

    def select_at(self, x: float, y: float, toggle: bool) -> None:
        """Select the topmost visible instance under (x, y) (add it to, or take it from, the
        selection with ``toggle``); nothing there clears the selection."""
        inst = self.controller.instance_at(x, y)
        sel = list(self.controller.selection) if toggle else []
        if inst is not None:
            sel = [i for i in sel if i != inst.id] if inst.id in sel else sel + [inst.id]
        self.controller.select(sel)

    def _show_brush_cursor(self, x: float, y: float) -> None:
        r = self.controller.brush_radius
        self.brush_item.setVisible(self.active.shows_brush)
        self.brush_item.setRect(QRectF(x - r, y - r, 2 * r, 2 * r))

    # ----- Qt events: translate only ----------------------------------------------------------
    def _image_pos(self, event) -> tuple[float, float]:
        p = self.mapToScene(event.position().toPoint())
        return p.x(), p.y()

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.MiddleButton or (
            self._space and event.button() == Qt.MouseButton.LeftButton
        ):
            self._pan_from = event.position()
            return
        self.tool_press(*self._image_pos(event), event.button(), event.modifiers())

    def mouseMoveEvent(self, event):
        if self._pan_from is not None:
            d = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(d.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(d.y()))
            return
        self.tool_move(*self._image_pos(event))

    def mouseReleaseEvent(self, event):
        if self._pan_from is not None:
            self._pan_from = None
            return
        self.tool_release(*self._image_pos(event), event.button())

    def mouseDoubleClickEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            self.tool_double_click(*self._image_pos(event))

    def wheelEvent(self, event):
        self.zoom(1.15 ** (event.angleDelta().y() / 120))

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if self._auto_fit:
            self.fit()

    def keyPressEvent(self, event):
        key = event.key()
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.active.enter():
            pass
        elif key == Qt.Key.Key_Escape:
            self.cancel_draft()
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event):
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
        super().keyReleaseEvent(event)
