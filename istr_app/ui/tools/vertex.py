"""Vertex tool: edit the selected mask's outer contours as polygons.

Drag a vertex, double-click an edge to insert one, right-click (or Delete on the hovered vertex)
to remove one. Each finished gesture rewrites the mask through ``geometry.replace_polygon``, which
keeps holes, and becomes one undo step.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsPathItem

from ...core.geometry import nearest_edge, nearest_vertex, outer_polygons, replace_polygon
from .base import CanvasTool


class VertexTool(CanvasTool):
    name = "vertex"

    def __init__(self, canvas):
        super().__init__(canvas)
        self.item = QGraphicsPathItem()
        self.item.setZValue(5)
        canvas.scene().addItem(self.item)
        self.polys: list[np.ndarray] = []
        self.instance_id: int | None = None
        self.drag: tuple[int, int] | None = None  # (polygon index, vertex index)
        self.hover: tuple[int, int] | None = None
        self._committed: np.ndarray | None = None  # mask our last edit produced

    def _keeps_polygons(self, inst) -> bool:
        """After our own edit, keep the edited polygons: re-deriving them from the mask would drop
        a vertex just inserted on a straight edge."""
        return (
            inst is not None
            and inst.id == self.instance_id
            and self._committed is not None
            and np.array_equal(inst.mask, self._committed)
        )

    def reload(self) -> None:
        """Recompute polygons from the selected mask (after any document change)."""
        inst = self.controller.selected_instance() if self.canvas.active is self else None
        if self._keeps_polygons(inst):
            self.redraw()
            return
        self._committed = None
        self.instance_id = inst.id if inst is not None else None
        self.polys = outer_polygons(inst.mask) if inst is not None else []
        self.drag = self.hover = None
        self.redraw()

    def redraw(self) -> None:
        path = QPainterPath()
        r = self.canvas.pixel_tolerance(3.5)
        for poly in self.polys:
            path.addPolygon(QPolygonF([QPointF(x, y) for x, y in poly] + [QPointF(*poly[0])]))
            for x, y in poly:
                path.addRect(QRectF(x - r, y - r, 2 * r, 2 * r))
        self.item.setPen(QPen(QColor(255, 255, 255), 0))
        self.item.setBrush(QBrush(QColor(255, 255, 255, 0)))
        self.item.setPath(path)

    def _hit_vertex(self, x: float, y: float) -> tuple[int, int] | None:
        tol = self.canvas.pixel_tolerance(7)
        for k, poly in enumerate(self.polys):
            v = nearest_vertex(poly, x, y, tol)
            if v is not None:
                return k, v
        return None

    def grab(self, x: float, y: float) -> bool:
        """Start dragging the vertex under (x, y); False when there is none (caller selects)."""
        self.drag = self._hit_vertex(x, y)
        self._before = self.polys[self.drag[0]].copy() if self.drag else None
        return self.drag is not None

    def drag_to(self, x: float, y: float) -> None:
        if self.drag is None:
            self.hover = self._hit_vertex(x, y)
            return
        k, v = self.drag
        self.polys[k][v] = (x, y)
        self.redraw()

    def drop(self, x: float, y: float) -> None:
        if self.drag is not None:
            k, v = self.drag
            self.polys[k][v] = (x, y)
            self.drag = None
            self._commit(k, self._before)

    # -- the tool's gestures ---------------------------------------------------------------------
    def press(self, x, y, right, modifiers) -> None:
        if right:
            self.delete_at(x, y)
        elif not self.grab(x, y) and not self.near_edge(x, y):
            self.canvas.select_at(x, y, toggle=False)

    def move(self, x, y) -> None:
        self.drag_to(x, y)

    def release(self, x, y, right) -> None:
        self.drop(x, y)

    def double_click(self, x, y) -> None:
        self.insert_at(x, y)

    # -- editing -------------------------------------------------------------------------------
    def near_edge(self, x: float, y: float) -> bool:
        """A click here is the first half of an insert double-click: keep the selection."""
        tol = self.canvas.pixel_tolerance(7)
        return any(nearest_edge(p, x, y, tol) is not None for p in self.polys)

    def insert_at(self, x: float, y: float) -> None:
        for k, poly in enumerate(self.polys):
            e = nearest_edge(poly, x, y, self.canvas.pixel_tolerance(7))
            if e is not None:
                self.polys[k] = np.insert(poly, e + 1, (x, y), axis=0)
                self._commit(k, poly)
                return

    def delete_at(self, x: float, y: float) -> bool:
        hit = self._hit_vertex(x, y) or self.hover
        if hit is None or len(self.polys[hit[0]]) <= 3:
            return False
        k, v = hit
        old = self.polys[k]
        self.polys[k] = np.delete(old, v, axis=0)
        self._commit(k, old)
        return True

    def delete(self) -> bool:
        return self.delete_hovered()

    def delete_hovered(self) -> bool:
        if self.hover is None:
            return False
        return self.delete_at(*self.polys[self.hover[0]][self.hover[1]])

    def _commit(self, k: int, old: np.ndarray) -> None:
        """Redraw part ``k`` of the mask from its edited polygon (one undo step)."""
        c = self.controller
        inst = c.record.find(self.instance_id) if c.record and self.instance_id is not None else None
        if inst is None:
            return
        polys = [p.copy() for p in self.polys]
        self._committed = replace_polygon(inst.mask, old, polys[k])
        c.set_mask(inst.id, self._committed)
        if self._keeps_polygons(c.record.find(inst.id)):
            self.polys = polys
        self.reload()
