"""Side panels: image list (status + counts), instance list (class, score), class list.

They render controller state and forward user choices as controller requests; a ``_syncing``
flag stops the selection echo when they are refreshed from the controller.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QInputDialog, QListWidget, QListWidgetItem, QMenu,
                               QPushButton, QVBoxLayout, QWidget)

from ..controller import Controller
from ..document import PRELABELLED, REVIEWED
from .render import instance_colour

STATUS_MARK = {REVIEWED: "✔", PRELABELLED: "◐"}
STATUS_COLOUR = {REVIEWED: QColor(60, 170, 60), PRELABELLED: QColor(200, 150, 20)}


def _swatch(rgb: tuple[int, int, int]) -> QIcon:
    """A small square of the overlay colour (coloured text is unreadable for light colours)."""
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(*rgb))
    return QIcon(pixmap)


class ImageList(QListWidget):
    def __init__(self, controller: Controller):
        super().__init__()
        self.controller = controller
        controller.records_changed.connect(self.refresh)
        controller.current_changed.connect(self._follow_current)
        self.currentRowChanged.connect(lambda row: row >= 0 and controller.set_current(row))
        self.refresh()

    def refresh(self) -> None:
        c = self.controller
        self.blockSignals(True)
        if self.count() != len(c.project.records):
            self.clear()
            self.addItems(["" for _ in c.project.records])
        for row, rec in enumerate(c.project.records):
            item = self.item(row)
            item.setText(f"{STATUS_MARK.get(rec.status, '○')} {rec.key}  ({c.counts(rec)})")
            item.setToolTip(f"{rec.key}: {rec.status}, {c.counts(rec)} instances")
            item.setForeground(STATUS_COLOUR.get(rec.status, QColor(160, 160, 160)))
        self.setCurrentRow(c.current)
        self.blockSignals(False)

    def _follow_current(self) -> None:
        self.blockSignals(True)
        self.setCurrentRow(self.controller.current)
        self.blockSignals(False)


class InstanceList(QListWidget):
    def __init__(self, controller: Controller):
        super().__init__()
        self.controller, self._syncing = controller, False
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        controller.instances_changed.connect(self.refresh)
        controller.classes_changed.connect(self.refresh)
        controller.selection_changed.connect(self._sync_selection)
        self.itemSelectionChanged.connect(self._selected)

    def refresh(self) -> None:
        c, self._syncing = self.controller, True
        self.clear()
        for inst in c.visible_instances():
            score = "" if inst.score is None else f" {inst.score:.2f}"
            mark = "✔ " if inst.accepted else ("✎ " if inst.source == "human" else "")
            item = QListWidgetItem(f"{mark}#{inst.id} {c.project.class_names[inst.label]}{score}")
            item.setData(Qt.ItemDataRole.UserRole, inst.id)
            item.setIcon(_swatch(instance_colour(inst.id)))
            self.addItem(item)
        self._syncing = False
        self._sync_selection()

    def _sync_selection(self) -> None:
        self._syncing = True
        sel = set(self.controller.selection)
        for row in range(self.count()):
            self.item(row).setSelected(self.item(row).data(Qt.ItemDataRole.UserRole) in sel)
        self._syncing = False

    def contextMenuEvent(self, event) -> None:
        """Right-click: accept, delete or relabel the selected instances."""
        c = self.controller
        if not c.selection:
            return
        menu = QMenu(self)
        menu.addAction("Accept", c.accept_selected)
        menu.addAction("Delete / reject", c.delete_selected)
        classes = menu.addMenu("Class")
        for k, name in enumerate(c.project.class_names):
            classes.addAction(name, lambda k=k: c.set_label_selected(k))
        menu.exec(event.globalPos())

    def _selected(self) -> None:
        if not self._syncing:
            self.controller.select([i.data(Qt.ItemDataRole.UserRole) for i in self.selectedItems()])


class ClassPanel(QWidget):
    """Class list: the current row is the class of new instances; clicking a class while instances
    are selected relabels them."""

    def __init__(self, controller: Controller):
        super().__init__()
        self.controller = controller
        self.list = QListWidget()
        add = QPushButton("Add class…")
        add.clicked.connect(self.ask_new_class)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        row = QHBoxLayout()
        row.addWidget(add)
        layout.addLayout(row)
        controller.classes_changed.connect(self.refresh)
        self.list.itemClicked.connect(lambda item: controller.set_label_selected(self.list.row(item)))
        self.refresh()

    def refresh(self) -> None:
        self.list.clear()
        for k, name in enumerate(self.controller.project.class_names):
            self.list.addItem(f"{k + 1}. {name}" if k < 9 else name)
        self.list.setCurrentRow(self.controller.current_class)

    def ask_new_class(self) -> None:
        name, ok = QInputDialog.getText(self, "Add class", "Class name:")
        if ok and name.strip():
            index = self.controller.add_class(name)
            self.controller.set_label_selected(index)
            self.list.setCurrentRow(index)
