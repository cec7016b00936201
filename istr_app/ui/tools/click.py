"""Click tool: left-click adds a positive point, right-click or Shift+click a negative one, a drag
a box prompt; the mask appears after every change (``services.click_session`` asks the core's
``ClickPredictor`` in the background). Enter accepts it; Esc cancels; Ctrl+Z removes the last click."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsPixmapItem

from ...services.click_session import ClickSession
from ..images import to_pixmap
from .box import BoxTool

DRAG = 4.0  # screen pixels a press must move to become a box prompt


class ClickTool(BoxTool):
    """A box tool whose short drags are clicks (and whose right button is a negative click)."""

    name = "click"

    def __init__(self, canvas):
        super().__init__(canvas)
        self.session = ClickSession(canvas.controller)
        self.negative = False
        self.mask_item = QGraphicsPixmapItem()  # the proposed mask
        self.mask_item.setZValue(2.5)
        canvas.scene().addItem(self.mask_item)
        self.point_items = [QGraphicsPathItem(), QGraphicsPathItem()]  # negative, positive
        for item, colour in zip(self.point_items, (QColor(230, 40, 40), QColor(40, 220, 60)), strict=True):
            item.setZValue(5)
            item.setBrush(QBrush(colour))
            item.setPen(QPen(QColor(255, 255, 255), 0))
            canvas.scene().addItem(item)
        self.session.mask_changed.connect(self.redraw)

    def activate(self) -> None:
        self.session.begin()

    def press(self, x, y, right, modifiers) -> None:
        if right:
            self.session.add_click(x, y, positive=False)
        else:
            self.pressed, self.points = True, [(x, y)]
            self.negative = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)

    def release(self, x, y, right) -> None:
        if right or not self.pressed:
            return
        (x0, y0) = self.points[0]
        negative = self.negative
        self.canvas.clear_draft()
        if np.hypot(x - x0, y - y0) > self.canvas.pixel_tolerance(DRAG):
            self.session.set_box((x0, y0, x, y))
        else:
            self.session.add_click(x0, y0, positive=not negative)

    def undo(self) -> bool:
        return self.session.undo_click()

    def enter(self) -> bool:
        if not self.session.accept():
            self.controller.message.emit("click tool: nothing to accept yet (click the object)")
        return True

    def redraw(self) -> None:
        """The session's draft: its proposed mask (cyan), its points (green +, red -) and its box."""
        mask, image = self.session.mask, self.controller.image
        if mask is None or image is None or mask.shape != image.shape[:2]:
            self.mask_item.setPixmap(QPixmap())
        else:
            rgba = np.zeros((*mask.shape, 4), np.uint8)
            rgba[mask] = (0, 220, 255, 110)
            self.mask_item.setPixmap(to_pixmap(rgba))
        r = self.canvas.pixel_tolerance(4)
        for positive, item in enumerate(self.point_items):
            path = QPainterPath()
            for c in self.session.clicks:
                if c.is_positive == bool(positive):
                    path.addEllipse(QPointF(c.x, c.y), r, r)
            item.setPath(path)
        box = self.session.box
        if self.canvas.active is self and not self.pressed:
            path = QPainterPath()
            if box is not None:
                path.addRect(QRectF(QPointF(box[0], box[1]), QPointF(box[2], box[3])))
            self.canvas.show_draft(path, QPen(QColor(0, 220, 255), 0))
