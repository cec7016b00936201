"""The image canvas: shows the image and the cached overlay, and turns gestures into edit requests.

Mouse handlers only translate to image coordinates and call the gesture methods ``tool_press``,
``tool_move``, ``tool_release``, ``tool_double_click`` (which tests call directly); each tool's
finished gesture becomes one controller request, i.e. one undo step.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
)

from ...controller import Controller
from ...core.geometry import polygon_mask
from ...services.click_session import ClickTool
from .render import render_overlay
from .vertex_editor import VertexEditor

TOOLS = ("select", "polygon", "brush", "eraser", "box", "vertex", "click")
CLICK_DRAG = 4.0  # screen pixels a click-tool press must move to become a box prompt


def numpy_to_qimage(array: np.ndarray) -> QImage:
    """RGB or RGBA uint8 array -> QImage that owns a copy of the pixels."""
    h, w, c = array.shape
    fmt = QImage.Format.Format_RGBA8888 if c == 4 else QImage.Format.Format_RGB888
    return QImage(np.ascontiguousarray(array).data, w, h, w * c, fmt).copy()


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
        self.vertex = VertexEditor(self)
        self.clicks = ClickTool(controller)
        self.click_mask_item = QGraphicsPixmapItem()  # the click tool's proposed mask
        self.click_mask_item.setZValue(2.5)
        self.scene().addItem(self.click_mask_item)
        self.click_points = [QGraphicsPathItem(), QGraphicsPathItem()]  # negative, positive
        for item, colour in zip(self.click_points, (QColor(230, 40, 40), QColor(40, 220, 60)), strict=True):
            item.setZValue(5)
            item.setBrush(QBrush(colour))
            item.setPen(QPen(QColor(255, 255, 255), 0))
            self.scene().addItem(item)
        self.clicks.mask_changed.connect(self._draw_clicks)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setMouseTracking(True)
        self.setBackgroundBrush(QColor(40, 40, 40))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.tool, self.points, self._pressed, self._pan_from, self._space = "select", [], False, None, False
        self._click_negative = False
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
        self.image_item.setPixmap(QPixmap.fromImage(numpy_to_qimage(image)))
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
        self.overlay_item.setPixmap(QPixmap.fromImage(numpy_to_qimage(self.overlay_rgba)))
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
    def set_tool(self, tool: str) -> None:
        assert tool in TOOLS, tool
        self.cancel_draft()
        self.tool = tool
        self.brush_item.hide()
        self.vertex.reload()
        if tool == "click":
            self.clicks.begin()
        self.tool_changed.emit(tool)

    def cancel_draft(self) -> None:
        """Drop the drawing in progress, the click tool's pending clicks included (Esc)."""
        self._clear_draft()
        if self.clicks.pending or self.clicks.target_id is not None:
            self.clicks.cancel()

    def _clear_draft(self) -> None:
        self.points, self._pressed = [], False
        self.draft_item.setPath(QPainterPath())

    def tool_press(
        self, x: float, y: float, button=Qt.MouseButton.LeftButton, modifiers=Qt.KeyboardModifier.NoModifier
    ) -> None:
        right = button == Qt.MouseButton.RightButton
        if self.tool == "select":
            self._select_at(x, y, bool(modifiers & Qt.KeyboardModifier.ControlModifier))
        elif self.tool == "polygon":
            self._polygon_click(x, y, right)
        elif self.tool == "click":
            negative = right or bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
            if right:
                self.clicks.add_click(x, y, positive=False)
            else:
                self._pressed, self.points, self._click_negative = True, [(x, y)], negative
        elif self.tool in ("brush", "eraser", "box") and not right:
            self._pressed, self.points = True, [(x, y)]
            self._draw_draft()
        elif self.tool == "vertex":
            if right:
                self.vertex.delete_at(x, y)
            elif not self.vertex.press(x, y) and not self.vertex.near_edge(x, y):
                self._select_at(x, y, False)

    def tool_move(self, x: float, y: float) -> None:
        self.cursor_moved.emit(x, y)
        self._show_brush_cursor(x, y)
        if self.tool == "vertex":
            self.vertex.move(x, y)
        elif self._pressed and self.tool in ("brush", "eraser"):
            self.points.append((x, y))
            self._draw_draft()
        elif self._pressed and self.tool in ("box", "click"):
            self.points[1:] = [(x, y)]
            self._draw_draft()
        elif self.tool == "polygon" and self.points:
            self._draw_draft((x, y))

    def tool_release(self, x: float, y: float) -> None:
        if self.tool == "vertex":
            self.vertex.release(x, y)
            return
        if not self._pressed:
            return
        points, tool = self.points, self.tool
        self._clear_draft()
        if tool in ("brush", "eraser"):
            self.controller.paint(points + [(x, y)], erase=tool == "eraser")
        elif tool == "box":
            self.box_drawn.emit((points[0][0], points[0][1], x, y))
        elif tool == "click":
            (x0, y0), drag = points[0], np.hypot(x - points[0][0], y - points[0][1])
            if drag > self.pixel_tolerance(CLICK_DRAG):
                self.clicks.set_box((x0, y0, x, y))
            else:
                self.clicks.add_click(x0, y0, positive=not self._click_negative)

    def tool_double_click(self, x: float, y: float) -> None:
        if self.tool == "polygon":
            self.finish_polygon()
        elif self.tool == "vertex":
            self.vertex.insert_at(x, y)

    def finish_polygon(self) -> None:
        """Close the polygon being drawn into a new instance (Enter / double-click / first vertex)."""
        points = self._dedup(self.points)
        self._clear_draft()
        if len(points) >= 3 and self.controller.image is not None:
            self.controller.add_mask(polygon_mask(self.controller.image.shape[:2], points))

    @staticmethod
    def _dedup(points):
        out = []
        for p in points:
            if not out or np.hypot(p[0] - out[-1][0], p[1] - out[-1][1]) > 0.5:
                out.append(p)
        return out

    def _polygon_click(self, x: float, y: float, right: bool) -> None:
        if right:
            self.points = self.points[:-1]
        elif len(self.points) >= 3 and np.hypot(
            x - self.points[0][0], y - self.points[0][1]
        ) <= self.pixel_tolerance(8):
            # clicking the first vertex closes the polygon
            self.finish_polygon()
            return
        else:
            self.points.append((x, y))
        self._draw_draft()

    def _show_brush_cursor(self, x: float, y: float) -> None:
        r = self.controller.brush_radius
        self.brush_item.setVisible(self.tool in ("brush", "eraser"))
        self.brush_item.setRect(QRectF(x - r, y - r, 2 * r, 2 * r))

    def _select_at(self, x: float, y: float, toggle: bool) -> None:
        inst = self.controller.instance_at(x, y)
        sel = list(self.controller.selection) if toggle else []
        if inst is not None:
            sel = [i for i in sel if i != inst.id] if inst.id in sel else sel + [inst.id]
        self.controller.select(sel)

    def _draw_draft(self, cursor: tuple[float, float] | None = None) -> None:
        path, pts = QPainterPath(), [QPointF(*p) for p in self.points + ([cursor] if cursor else [])]
        pen = QPen(QColor(255, 255, 0), 0)
        if self.tool in ("box", "click") and len(pts) == 2:
            path.addRect(QRectF(pts[0], pts[1]).normalized())
        elif pts:
            path.moveTo(pts[0])
            for p in pts[1:]:
                path.lineTo(p)
            if self.tool in ("brush", "eraser"):
                colour = QColor(255, 80, 80, 120) if self.tool == "eraser" else QColor(80, 255, 80, 120)
                pen = QPen(
                    colour,
                    2 * self.controller.brush_radius,
                    Qt.PenStyle.SolidLine,
                    Qt.PenCapStyle.RoundCap,
                    Qt.PenJoinStyle.RoundJoin,
                )
                path.lineTo(pts[-1] + QPointF(0.01, 0))
        self.draft_item.setPen(pen)
        self.draft_item.setBrush(QBrush(Qt.BrushStyle.NoBrush))
        self.draft_item.setPath(path)

    def _draw_clicks(self) -> None:
        """The click tool's draft: its proposed mask (cyan) and its points (green +, red -)."""
        mask, image = self.clicks.mask, self.controller.image
        if mask is None or image is None or mask.shape != image.shape[:2]:
            self.click_mask_item.setPixmap(QPixmap())
        else:
            rgba = np.zeros((*mask.shape, 4), np.uint8)
            rgba[mask] = (0, 220, 255, 110)
            self.click_mask_item.setPixmap(QPixmap.fromImage(numpy_to_qimage(rgba)))
        r = self.pixel_tolerance(4)
        for positive, item in enumerate(self.click_points):
            path = QPainterPath()
            for c in self.clicks.clicks:
                if c.is_positive == bool(positive):
                    path.addEllipse(QPointF(c.x, c.y), r, r)
            item.setPath(path)
        box = self.clicks.box
        if self.tool == "click" and not self._pressed:
            path = QPainterPath()
            if box is not None:
                path.addRect(QRectF(QPointF(box[0], box[1]), QPointF(box[2], box[3])))
            self.draft_item.setPen(QPen(QColor(0, 220, 255), 0))
            self.draft_item.setBrush(QBrush(Qt.BrushStyle.NoBrush))
            self.draft_item.setPath(path)

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
        if event.button() == Qt.MouseButton.LeftButton:
            self.tool_release(*self._image_pos(event))
        elif self.tool == "vertex":
            self.vertex.release(*self._image_pos(event))

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
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.tool == "polygon":
            self.finish_polygon()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.tool == "click":
            if not self.clicks.accept():
                self.controller.message.emit("click tool: nothing to accept yet (click the object)")
        elif key == Qt.Key.Key_Escape:
            self.cancel_draft()
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event):
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
        super().keyReleaseEvent(event)
