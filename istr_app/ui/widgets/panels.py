"""Side panels: image list (status + counts), instance list (class, score), class list.

They render controller state and forward user choices as controller requests; a ``_syncing``
flag stops the selection echo when they are refreshed from the controller.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QInputDialog,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...controller import Controller
from ...core.document import PRELABELLED, REVIEWED
from .render import instance_colour

STATUS_MARK = {REVIEWED: "✔", PRELABELLED: "◐"}
STATUS_COLOUR = {REVIEWED: QColor(60, 170, 60), PRELABELLED: QColor(200, 150, 20)}
UNLABELLED_COLOUR = QColor(160, 160, 160)


_SWATCHES: dict[tuple[int, int, int], QIcon] = {}


def _swatch(rgb: tuple[int, int, int]) -> QIcon:
    """A small square of the overlay colour (coloured text is unreadable for light colours); one
    icon per palette colour, shared by all rows."""
    if rgb not in _SWATCHES:
        pixmap = QPixmap(12, 12)
        pixmap.fill(QColor(*rgb))
        _SWATCHES[rgb] = QIcon(pixmap)
    return _SWATCHES[rgb]


class ImageListModel(QAbstractListModel):
    """The image list as a model the view queries only for the rows on screen, so a folder of
    10,000 images costs the same per edit or slider move as a folder of ten (a QListWidget with one
    item per image rewrote every row on each change)."""

    def __init__(self, controller: Controller):
        super().__init__()
        self.controller = controller
        self._rows = len(controller.project.records)

    def rowCount(self, parent: QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else self._rows

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        c = self.controller
        if not index.isValid() or index.row() >= len(c.project.records):
            return None
        rec = c.project.records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{STATUS_MARK.get(rec.status, '○')} {rec.key}  ({c.counts(rec)})"
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{rec.key}: {rec.status}, {c.counts(rec)} instances"
        if role == Qt.ItemDataRole.ForegroundRole:
            return STATUS_COLOUR.get(rec.status, UNLABELLED_COLOUR)
        return None

    def reset_rows(self) -> None:
        """Images were added or removed: the view starts over."""
        self.beginResetModel()
        self._rows = len(self.controller.project.records)
        self.endResetModel()


class ImageList(QListView):
    def __init__(self, controller: Controller):
        super().__init__()
        self.controller = controller
        self.list_model = ImageListModel(controller)
        self.setModel(self.list_model)
        self.setUniformItemSizes(True)  # row heights are not measured one by one
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        controller.records_changed.connect(self.refresh)
        controller.current_changed.connect(self._follow_current)
        self._syncing = False
        self.selectionModel().currentRowChanged.connect(self._clicked)
        self.refresh()

    def _clicked(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not self._syncing and current.row() >= 0:
            self.controller.set_current(current.row())

    def currentRow(self) -> int:
        return self.currentIndex().row()

    def setCurrentRow(self, row: int) -> None:
        """Show image ``row`` (as a click on it would)."""
        self.setCurrentIndex(self.list_model.index(row))

    def row_text(self, row: int, role=Qt.ItemDataRole.DisplayRole) -> str:
        return self.list_model.data(self.list_model.index(row), role)

    def refresh(self) -> None:
        """Statuses or counts changed: re-read the rows on screen (the others are read when they
        scroll into view), so the cost does not grow with the folder."""
        model = self.list_model
        if model.rowCount() != len(self.controller.project.records):
            model.reset_rows()
        elif model.rowCount():
            first = self.indexAt(self.viewport().rect().topLeft())
            last = self.indexAt(self.viewport().rect().bottomLeft())
            top = first.row() if first.isValid() else 0
            bottom = last.row() if last.isValid() else model.rowCount() - 1
            model.dataChanged.emit(model.index(top), model.index(bottom))
        self._follow_current()

    def _follow_current(self) -> None:
        row = self.controller.current
        if row != self.currentRow() and 0 <= row < self.list_model.rowCount():
            self._syncing = True
            self.setCurrentIndex(self.list_model.index(row))
            self._syncing = False
            self.scrollTo(self.list_model.index(row))


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
