"""The main window: wires the canvas, docks, actions and the status bar. No document logic here.

Every action is declared once in ``ACTIONS`` (name, text, shortcuts); the Help dialog is built
from the same table, so the shortcut list cannot drift from the real bindings.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
)

from istr_core.eval.gate import SEED_OBJECTS
from istr_core.formats import FORMATS
from istr_core.formats.dataset import AnnotationError
from istr_core.predict.segmenter import Segmenter

from ..controller import Controller
from ..core import autosave
from ..core.document import MODEL, REVIEWED
from ..services.jobs import Jobs
from ..services.online_loop import OnlineLoop, Reviewed, RoundInfo
from ..services.prelabel_gate import GateService, Shown, ToPrice
from .widgets.canvas import TOOLS, Canvas
from .widgets.dialogs import HelpDialog
from .widgets.elided_label import ElidedLabel
from .widgets.panels import ClassPanel, ImageList, InstanceList

# (action name, menu text, shortcuts)
ACTIONS = [
    ("open_annotations", "&Open annotations…", ["Ctrl+O"]),
    ("save", "&Save", ["Ctrl+S"]),
    ("save_as", "Save &as…", ["Ctrl+Shift+S"]),
    ("export_as", "&Export as…", ["Ctrl+E"]),
    ("load_model", "Load &model…", ["Ctrl+M"]),
    ("quit", "&Quit", ["Ctrl+Q"]),
    ("undo", "&Undo", ["Ctrl+Z"]),
    ("redo", "&Redo", ["Ctrl+Y", "Ctrl+Shift+Z"]),
    ("next", "Next image", ["D", "PgDown"]),
    ("prev", "Previous image", ["A", "PgUp"]),
    ("fit", "Fit to window", ["F"]),
    ("zoom_in", "Zoom in", ["+", "="]),
    ("zoom_out", "Zoom out", ["-"]),
    ("tool_select", "Select tool", ["V"]),
    ("tool_polygon", "Polygon tool", ["P"]),
    ("tool_scissors", "Scissors tool (edge-snapping polygon)", ["S"]),
    ("tool_brush", "Brush tool", ["B"]),
    ("tool_eraser", "Eraser tool", ["E"]),
    ("tool_box", "Box → mask tool", ["R"]),
    ("tool_vertex", "Vertex edit tool", ["M"]),
    ("tool_click", "Click-to-segment tool", ["C"]),
    ("brush_smaller", "Brush smaller", ["["]),
    ("brush_larger", "Brush larger", ["]"]),
    (
        "delete",
        "Delete / reject selected (vertex tool: hovered vertex; scissors: last anchor)",
        ["Delete", "Backspace"],
    ),
    ("accept", "Accept selected", ["Y"]),
    ("accept_all", "Accept all on image = mark reviewed", ["Ctrl+Return"]),
    ("prelabel", "Pre-label this image", ["Ctrl+L"]),
    ("prelabel_all", "Pre-label all unreviewed images", ["Ctrl+Shift+L"]),
    ("find_like", "Find objects like the ones on this image", ["Ctrl+F"]),
    ("finetune", "Fine-tune on reviewed images…", ["Ctrl+T"]),
    ("cancel", "Cancel background job", ["Ctrl+."]),
    ("pause_learning", "Pause online learning", ["Ctrl+P"]),
    ("auto_threshold", "Automatic confidence (pre-labels priced on reviewed images)", ["Ctrl+G"]),
    ("help", "Keyboard shortcuts", ["F1"]),
] + [(f"class_{k}", f"Class {k} for selection / new instances", [str(k)]) for k in range(1, 10)]

MOUSE_HELP = [
    ("Wheel", "Zoom at cursor"),
    ("Middle-drag / Space+drag", "Pan"),
    ("Click (select tool)", "Select topmost instance; Ctrl+click adds"),
    ("Click / right-click (polygon)", "Add / remove last vertex"),
    ("Enter, double-click, click 1st vertex", "Close polygon"),
    ("Click / right-click or Backspace (scissors)", "Add / remove last anchor; the path follows edges"),
    ("Enter, double-click, click 1st anchor (scissors)", "Close the edge-snapping polygon"),
    ("Esc", "Cancel the current drawing"),
    ("Drag (brush/eraser)", "Paint into selected instance (or a new one) / erase"),
    ("Drag (box)", "Box → mask (model, or GrabCut without a model)"),
    ("Drag vertex / double-click edge / right-click vertex", "Vertex tool: move / insert / delete"),
    ("Click / right-click or Shift+click (click tool)", "Positive / negative point; the mask updates"),
    ("Drag (click tool)", "Box prompt for the click tool"),
    (
        "Enter / Esc / Ctrl+Z (click tool)",
        "Accept the mask (new, or the selected instance's) / cancel / undo click",
    ),
]

MENUS = {
    "&File": ["open_annotations", "save", "save_as", "export_as", "load_model", "quit"],
    "&Edit": ["undo", "redo", "delete", "accept", "accept_all"],
    "&View": ["next", "prev", "fit", "zoom_in", "zoom_out"],
    "&Tools": [
        "tool_select",
        "tool_polygon",
        "tool_scissors",
        "tool_brush",
        "tool_eraser",
        "tool_box",
        "tool_vertex",
        "tool_click",
        "brush_smaller",
        "brush_larger",
    ],
    "&Model": [
        "prelabel",
        "prelabel_all",
        "find_like",
        "finetune",
        "cancel",
        "pause_learning",
        "auto_threshold",
    ],
    "&Help": ["help"],
}


HIDE_ALL = 101  # the slider's position past 1.00: no pre-label shown ("none")


def shortcut_table() -> list[tuple[str, str]]:
    return [(", ".join(keys), text.replace("&", "")) for _, text, keys in ACTIONS] + MOUSE_HELP


class MainWindow(QMainWindow):
    def __init__(
        self,
        controller: Controller,
        show_unpriced: bool = False,
        snap_edges: bool = False,
        exemplars: bool = False,
        seeded: bool = False,
    ):
        super().__init__()
        self.controller, self.jobs = controller, Jobs(controller)
        self.online: OnlineLoop | None = None
        self.online_round: RoundInfo | None = None
        # the pre-label gate: after each reviewed image, the threshold (or none) its pricing chose;
        # before any price the embedded default model's pre-labels are hidden (unpriced, they cost
        # more than clicking on new data: benchmarks/README "Nothing shown before the first price"),
        # the user's own checkpoint, or any model with ``show_unpriced`` (istr-app --prelabel: asked
        # for), shown at the slider's threshold
        hide = controller.segmenter is not None and controller.weights is None and not show_unpriced
        # ``snap_edges`` (istr-app --snap-edges): the gate may also snap the outlines to the image's edges
        # ``exemplars`` (istr-app's default; --no-exemplars): the gate may show the objects found like
        # the reviewed ones of an image's size instead of the model's pre-labels
        # ``seeded`` (istr-app's default; --no-seeded): the gate may show an image nothing until the
        # annotator has made its first SEED_OBJECTS objects, then search it for objects like them
        default = None if hide else controller.threshold
        self.gate = GateService(default=default, snap_edges=snap_edges, exemplars=exemplars, seeded=seeded)
        self._seeded_searched: set[str] = set()  # images searched after their first objects
        controller.set_click_model(not self.gate.gate.decision.weight_free)  # weight-free until priced
        self._gate_moving, self._manual_value = False, round(controller.threshold * 100)
        self.ask_on_close = True
        self.setWindowTitle(f"ISTR Studio — {controller.project.folder}")
        self.canvas = Canvas(controller)
        self.setCentralWidget(self.canvas)
        self.image_list, self.instance_list = ImageList(controller), InstanceList(controller)
        self.class_panel = ClassPanel(controller)
        self._dock("Images", self.image_list, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Instances", self.instance_list, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("Classes", self.class_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.actions_by_name = {name: self._action(name, text, keys) for name, text, keys in ACTIONS}
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self._connect()
        self.resize(1280, 800)

    def _dock(self, title, widget, area) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        features = QDockWidget.DockWidgetFeature
        dock.setFeatures(features.DockWidgetMovable | features.DockWidgetFloatable)
        self.addDockWidget(area, dock)

    def _action(self, name: str, text: str, keys: list[str]) -> QAction:
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(
            getattr(self, f"on_{name}", None) or (lambda _=False, n=name: self._on_indexed(n))
        )
        self.addAction(action)
        return action

    def _build_menus_and_toolbar(self) -> None:
        for title, names in MENUS.items():
            menu = self.menuBar().addMenu(title)
            for name in names:
                menu.addAction(self.actions_by_name[name])
        bar = self.addToolBar("Main")
        bar.setObjectName("Main")
        for name, short in (
            ("prelabel", "Pre-label"),
            ("prelabel_all", "Pre-label all"),
            ("accept_all", "Accept all ✔"),
            ("save", "Save"),
            ("fit", "Fit"),
        ):
            self.actions_by_name[name].setIconText(short)
            bar.addAction(self.actions_by_name[name])
        bar.addSeparator()
        for tool in TOOLS:
            a = self.actions_by_name[f"tool_{tool}"]
            a.setCheckable(True)
            a.setIconText(tool.capitalize())
            bar.addAction(a)
        self.actions_by_name["tool_select"].setChecked(True)
        bar.addSeparator()
        self.threshold_label = QLabel()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(5, HIDE_ALL)
        self.slider.setFixedWidth(140)
        self.slider.setValue(round(self.controller.threshold * 100))
        self.slider.valueChanged.connect(self.on_threshold)
        bar.addWidget(QLabel(" Confidence ≥ "))
        bar.addWidget(self.slider)
        bar.addWidget(self.threshold_label)
        self.on_threshold(self.slider.value())
        auto = self.actions_by_name["auto_threshold"]
        auto.setCheckable(True)
        auto.setChecked(True)
        if self.gate.gate.decision.hidden:
            self._move_slider(HIDE_ALL)

    def _build_status_bar(self) -> None:
        self.status_label, self.brush_label, self.count_label, self.pos_label = (
            QLabel(),
            QLabel(),
            QLabel(),
            QLabel(),
        )
        self.online_label, self.gate_label = QLabel(), ElidedLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.jobs.cancel)
        sb = self.statusBar()
        sb.addWidget(self.status_label, 1)
        sb.addWidget(self.gate_label, 3)  # the longest line: most of the room, cut to fit
        for w in (
            self.online_label,
            self.pos_label,
            self.count_label,
            self.brush_label,
            self.progress,
            self.cancel_button,
        ):
            sb.addPermanentWidget(w)
        self.progress.hide()
        self.cancel_button.hide()
        self._show_brush()
        self._show_gate()
        self.show_message("F1: keyboard shortcuts")

    def _connect(self) -> None:
        c = self.controller
        c.message.connect(self.show_message)
        c.current_changed.connect(self._update_title)
        c.instances_changed.connect(self._show_counts)
        self.canvas.tool_changed.connect(self._tool_changed)
        self.canvas.box_drawn.connect(self.on_box)
        self.canvas.cursor_moved.connect(lambda x, y: self.pos_label.setText(f"x {x:.0f}, y {y:.0f}"))
        self.jobs.started.connect(self._job_started)
        self.jobs.progress.connect(self._job_progress)
        self.jobs.ended.connect(self._job_ended)
        self.jobs.failed.connect(self._job_failed)
        self.jobs.log.connect(self.show_message)
        c.reviewed.connect(self._on_reviewed)
        self.jobs.prelabelled.connect(self._remember_prelabels)
        self.gate.decided.connect(self._on_gate)
        c.current_changed.connect(self._focus_gate)
        c.instances_changed.connect(self._find_seeded)
        c.model_changed.connect(self._show_gate)
        self.gate.failed.connect(self.show_message)

    # ----- online learning ----------------------------------------------------------------------
    def enable_online_learning(self, steps_per_round: int = 20, save_path: Path | None = None) -> bool:
        """Learn from every image marked reviewed, in the background (needs a model)."""
        c = self.controller
        if c.segmenter is None or self.online is not None:
            return False
        save_path = save_path or c.project.folder / ".istr_models" / "online.pt"
        self.online = OnlineLoop(c.segmenter.checkpoint, steps_per_round, save_path, device="cpu")
        self.online.model_ready.connect(self._on_online_model)
        self.online.state_changed.connect(lambda _: self._show_online())
        self.online.failed.connect(self.show_message)
        action = self.actions_by_name["pause_learning"]
        action.setCheckable(True)
        action.setEnabled(True)
        self._online_timer = QTimer(self)
        self._online_timer.timeout.connect(self._show_online)
        self._online_timer.start(1000)
        self._show_online()
        return True

    def _on_reviewed(self, key: str) -> None:
        self._price_prelabels(key)
        if self.online is not None:
            self.learn_from(key)
            self._prelabel_ahead()

    def learn_from(self, key: str) -> None:
        """Hand image ``key``'s current masks to the online loop (it must be running)."""
        c = self.controller
        masks, labels = c.reviewed_masks(key)
        rec = c.project.record(key)
        self.online.add_reviewed(Reviewed(key, rec.path, masks, labels, tuple(c.project.class_names)))

    def _on_online_model(self, segmenter, info: RoundInfo) -> None:
        self.online_round = info
        self.controller.set_segmenter(segmenter, self.controller.weights)
        self._show_online()
        self._prelabel_ahead()

    def _prelabel_ahead(self) -> None:
        """Pre-label the next unreviewed images with the newest model, so the annotator never waits."""
        if self.controller.segmenter is not None and not self.jobs.busy:
            self.jobs.prelabel(self.controller.upcoming_keys(2))

    def _show_online(self) -> None:
        loop, info = self.online, self.online_round
        if loop is None:
            self.online_label.setText("")
            return
        if loop.paused:
            text = "learning paused"
        elif info is None:
            text = "learning: mark an image reviewed (Ctrl+Enter) to start"
        else:
            age = int(time.time() - info.finished_at)
            text = f"model round {info.round} · learned from {info.images} images · {age} s old"
            text += " · training…" if loop.state == "training" else ""
        self.online_label.setText(text)

    def on_pause_learning(self) -> None:
        if self.online is not None:
            self.online.set_paused(self.actions_by_name["pause_learning"].isChecked())
            self._show_online()

    # ----- the pre-label gate -------------------------------------------------------------------
    def _remember_prelabels(self, key: str, prelabels) -> None:
        """The model's pre-labels of image ``key`` as it predicted them, kept for pricing once the
        image is reviewed (whatever it was shown: the gate prices every option)."""
        c = self.controller
        names = c.segmenter.class_names if c.segmenter is not None else []
        labels = [c.project.class_index(names[label]) for _, label, _ in prelabels.predicted]
        rles = [encoded[0] for *_, encoded in prelabels.predicted]  # encode_mask: (RLE, box, area)
        scores = [s for s, *_ in prelabels.predicted]
        self.gate.remember(key, Shown(rles, scores, labels))

    def _price_prelabels(self, key: str) -> None:
        """A reviewed image that had pre-labels: price them (in the background) against its masks;
        one that had none (or reviewed again) is an exemplar source all the same."""
        shown = self.gate.take_shown(key)
        c = self.controller
        masks, labels = c.reviewed_masks(key)
        path, classes = c.project.record(key).path, len(c.project.class_names) > 1
        if shown is None:
            self.gate.add_source(path, masks, labels)
            return
        self.gate.price(ToPrice(key, path, shown, masks, labels, c.segmenter, classes))

    def _focus_gate(self) -> None:
        """Another image: the gate decides for its size (the first of a new size after a run of one
        size is a new scene); a changed decision moves the slider as a new price does."""
        image = self.controller.image
        before = self.gate.gate.decision
        decision = self.gate.gate.focus(None if image is None else image.shape[:2])
        if decision != before:
            self._on_gate(decision)

    def _on_gate(self, decision) -> None:
        if self.actions_by_name["auto_threshold"].isChecked():
            self._move_slider(HIDE_ALL if decision.hidden else round(decision.threshold * 100))
            self.controller.set_click_model(not decision.weight_free)
            sources = self.gate.sources if decision.exemplars else None
            if (
                decision.snap_edges != self.controller.snap_edges
                or sources is not None
                or (self.controller.exemplar_sources is not None)
                or decision.seeded != self.controller.seeded
            ):
                self.controller.snap_edges = decision.snap_edges
                self.controller.exemplar_sources = sources  # found from the newest reviewed images too
                self.controller.seeded = decision.seeded
                self._prelabel_ahead()  # the next images as the gate now wants them
            self._hide_for_seeding()
        self._show_gate()

    def _hide_for_seeding(self) -> None:
        """The gate wants the image in view shown nothing until its first objects are made: the
        model's pre-labels it was given before are taken away (one undo step), and where the
        annotator has made enough already, the search starts."""
        if self._awaits_seeds():
            self.controller.hide_prelabels(self.controller.record.key)
            self._find_seeded()

    def _find_seeded(self) -> None:
        """The gate's "click a few, then find the rest": once the annotator has made the first
        SEED_OBJECTS objects of an image shown nothing, the objects like them are searched for, once
        per image, in the background (they come as pre-labels the slider filters)."""
        c = self.controller
        rec = c.record
        if not self._awaits_seeds():
            return
        if any(i.source == MODEL and not i.accepted for i in rec.instances):
            return  # it shows pre-labels (given before the gate chose this, or found already)
        made = len(c.reviewed_masks(rec.key)[0])
        if made >= SEED_OBJECTS and self.jobs.find_like():
            self._seeded_searched.add(rec.key)
            self.show_message(f"finding objects like your first {made}…")

    def _awaits_seeds(self) -> bool:
        """The gate wants the image in view clicked first, and it has not been searched yet."""
        rec = self.controller.record
        return (
            self.controller.seeded
            and rec is not None
            and rec.status != REVIEWED
            and rec.key not in self._seeded_searched
        )

    def _move_slider(self, value: int) -> None:
        self._gate_moving = True
        self.slider.setValue(value)
        self._gate_moving = False

    def _show_gate(self) -> None:
        decision = self.gate.gate.decision
        if self.controller.segmenter is None:
            text = ""
        elif not decision.images and not decision.hidden:
            text = f"pre-labels: threshold chosen after the first reviewed image{decision.path_note()}"
        else:
            text = decision.line()
        if text and not self.actions_by_name["auto_threshold"].isChecked():
            text = f"automatic confidence off (Ctrl+G) · {text}"
        self.gate_label.setText(text)  # cut to fit; the whole line in its tooltip

    def on_auto_threshold(self) -> None:
        """Automatic on: the gate's choice moves the slider and picks the click tool's path; off: the
        slider stays the user's and the click tool uses the model."""
        decision = self.gate.gate.decision
        if self.actions_by_name["auto_threshold"].isChecked():
            if decision.images or decision.hidden:  # unpriced and shown: the slider stays the user's
                self._on_gate(decision)
        else:
            self.controller.set_click_model(True)  # off: the click tool uses the model again
            self.controller.snap_edges = False  # and the pre-labels are the model's outlines
            self.controller.exemplar_sources = None
            self.controller.seeded = False
            if self.slider.value() == HIDE_ALL:  # off after "none": show pre-labels again
                self._move_slider(self._manual_value if self._manual_value != HIDE_ALL else 30)
        self._show_gate()

    # ----- slots ------------------------------------------------------------------------------
    def _update_title(self) -> None:
        rec = self.controller.record
        name = f"{rec.key} — " if rec else ""
        self.setWindowTitle(f"ISTR Studio — {name}{self.controller.project.folder}")

    def _show_counts(self) -> None:
        rec = self.controller.record
        if rec is not None:
            shown = len(self.controller.visible_instances())
            self.count_label.setText(f"{rec.status}: {shown} shown, {len(rec.instances) - shown} hidden")

    def show_message(self, text: str) -> None:
        self.status_label.setText(text)

    def _show_brush(self) -> None:
        c = self.controller
        model = (
            "no model (box tool uses GrabCut)" if c.segmenter is None else f"model: {c.weights or 'default'}"
        )
        self.brush_label.setText(f"brush {self.controller.brush_radius}px | {model}")

    def _tool_changed(self, tool: str) -> None:
        for name in TOOLS:
            self.actions_by_name[f"tool_{name}"].setChecked(name == tool)
        self.show_message(f"tool: {tool}")

    def _job_started(self, kind: str) -> None:
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()

    def _job_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.show_message(text)

    def _job_ended(self, kind: str, result) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        if kind == "finetune":
            self.after_finetune(result, self._ask_reload(result))
        else:
            self.show_message(f"pre-labelling {result}")

    def _job_failed(self, message: str) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self.show_message(message)
        if self.ask_on_close:
            QMessageBox.warning(self, "ISTR Studio", message)

    def _ask_reload(self, result) -> bool:
        if not self.ask_on_close:
            return False
        n = len(self.controller.unreviewed_keys())
        answer = QMessageBox.question(
            self,
            "Fine-tuning finished",
            f"Saved {result.checkpoint} ({result.iterations} iterations).\n"
            f"Load it and re-pre-label the {n} unreviewed images?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def after_finetune(self, result, reload: bool) -> None:
        """Offer of the close-the-loop step: load the new weights, re-pre-label unreviewed images."""
        self.show_message(f"fine-tuned model written to {result.checkpoint}")
        if reload:
            self.load_model(Path(result.checkpoint))
            self.jobs.prelabel(self.controller.unreviewed_keys())

    def load_model(self, path: Path) -> bool:
        try:
            segmenter = Segmenter.from_checkpoint(path, device="auto")
        except Exception as e:  # noqa: BLE001 - bad user file: one line, not a crash
            self.show_message(f"cannot load {path}: {e}")
            return False
        self.controller.set_segmenter(segmenter, path)
        self._show_brush()
        return True

    def on_find_like(self) -> None:
        if self.jobs.find_like():
            self.show_message("finding objects like these…")

    def on_box(self, box) -> None:
        if self.jobs.box(box):
            self.show_message("box → mask running…")

    def on_threshold(self, value: int) -> None:
        """The slider: by hand or moved by the gate; past 1.00 ("none") it hides every pre-label."""
        if not self._gate_moving:
            self._manual_value = value
        self.threshold_label.setText("none" if value >= HIDE_ALL else f"{value / 100:.2f}")
        self.controller.set_threshold(math.inf if value >= HIDE_ALL else value / 100)

    def _on_indexed(self, name: str) -> None:
        if name.startswith("tool_"):
            self.canvas.set_tool(name[5:])
        elif name.startswith("class_"):
            k = int(name[6:]) - 1
            if k < len(self.controller.project.class_names):
                self.controller.set_label_selected(k)
                self.class_panel.list.setCurrentRow(k)

    def on_save(self) -> None:
        self._save(None)

    def on_save_as(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save COCO annotations", str(self.controller.default_save_path()), "COCO JSON (*.json)"
        )
        if path:
            self._save(Path(path))

    def _save(self, path: Path | None) -> bool:
        """Save, or say why not: the edits stay in memory and in the autosave, the old file is intact."""
        target = path or self.controller.default_save_path()
        try:
            self.controller.save(path)
            return True
        except OSError as e:
            text = (
                f"could not save {target}: {e.strerror or e}. Nothing was lost: your edits are still open "
                f"and in the autosave {self.controller.autosave_path}; try Save as… another place"
            )
            self.show_message(text)
            QMessageBox.warning(self, "Save failed", text)
            return False

    def on_open_annotations(self) -> None:
        path = self._ask_annotations_path("Open annotations", save=False)
        if path is None:
            return
        try:
            warnings = self.controller.open_annotations(path)
        except (AnnotationError, OSError) as e:
            QMessageBox.warning(self, "Cannot open annotations", str(e))
            return
        first = f"; {len(warnings)} warnings, first: {warnings[0]}" if warnings else ""
        self.show_message(f"opened {path} ({self.controller.annotations_format}){first}")

    def on_export_as(self) -> None:
        path = self._ask_annotations_path("Export as", save=True)
        if path is None:
            return
        try:
            self.controller.export(path, self._chosen_format)
        except (AnnotationError, OSError) as e:
            QMessageBox.warning(self, "Export failed", str(e))

    def _ask_annotations_path(self, title: str, save: bool) -> Path | None:
        """Format first (from the core registry), then a file (coco, cvat) or a folder (the others)."""
        fmt, ok = QInputDialog.getItem(self, title, "Format:", list(FORMATS), 0, False)
        if not ok:
            return None
        self._chosen_format, start = fmt, str(self.controller.project.folder)
        if fmt in ("coco", "cvat"):
            pick = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
            path, _ = pick(self, title, start, "COCO JSON (*.json)" if fmt == "coco" else "CVAT XML (*.xml)")
        else:
            path = QFileDialog.getExistingDirectory(self, f"{title}: {fmt} folder", start)
        return Path(path) if path else None

    def on_load_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load ISTR checkpoint", "", "Checkpoints (*.pt *.pth)")
        if path:
            self.load_model(Path(path))

    def on_quit(self) -> None:
        self.close()

    def on_undo(self) -> None:
        """Ctrl+Z: the active tool's gesture first (the click tool's last click, the scissors' last
        anchor), else the project's last edit."""
        if not self.canvas.active.undo():
            self.controller.undo()

    def on_redo(self) -> None:
        self.controller.redo()

    def on_next(self) -> None:
        self.controller.step(1)

    def on_prev(self) -> None:
        self.controller.step(-1)

    def on_fit(self) -> None:
        self.canvas.fit()

    def on_zoom_in(self) -> None:
        self.canvas.zoom(1.25)

    def on_zoom_out(self) -> None:
        self.canvas.zoom(0.8)

    def on_brush_smaller(self) -> None:
        r = self.controller.brush_radius
        self.controller.brush_radius = max(1, r - max(1, r // 5))
        self._show_brush()

    def on_brush_larger(self) -> None:
        r = self.controller.brush_radius
        self.controller.brush_radius = min(200, r + max(1, r // 5))
        self._show_brush()

    def on_delete(self) -> None:
        """Delete / Backspace: the active tool's use of it first (the vertex tool's hovered vertex,
        the scissors' last anchor), else the selection."""
        if not self.canvas.active.delete():
            self.controller.delete_selected()

    def on_accept(self) -> None:
        self.controller.accept_selected()

    def on_accept_all(self) -> None:
        self.controller.accept_all()

    def on_prelabel(self) -> None:
        if self.controller.record and not self.jobs.prelabel([self.controller.record.key]):
            self.show_message("no model loaded (Model → Load model) or a job is running")

    def on_prelabel_all(self) -> None:
        if not self.jobs.prelabel(self.controller.unreviewed_keys()):
            self.show_message("no model loaded, nothing to do, or a job is running")

    def on_finetune(self) -> None:
        iterations, ok = QInputDialog.getInt(self, "Fine-tune", "Iterations:", 300, 10, 100000, 50)
        if ok and self.jobs.busy:
            self.show_message("a background job is running (see the status bar): try again when it ends")
        elif ok:
            self.jobs.finetune(iterations)

    def on_cancel(self) -> None:
        self.jobs.cancel()

    def on_help(self) -> None:
        HelpDialog(shortcut_table(), self).exec()

    def closeEvent(self, event) -> None:
        buttons = QMessageBox.StandardButton
        if self.ask_on_close and self.controller.dirty:
            answer = QMessageBox.question(
                self,
                "Unsaved changes",
                "Save before closing? (Your edits are also in the autosave.)",
                buttons.Save | buttons.Discard | buttons.Cancel,
            )
            if answer == buttons.Cancel:
                event.ignore()
                return
            if answer == buttons.Save:
                if not self._save(None):  # stay open: the user chose to save, and it failed
                    event.ignore()
                    return
            else:
                self.controller.flush_autosave()
                autosave.discard(self.controller.autosave_path)
        self.jobs.cancel()
        self.jobs.wait()
        self.canvas.clicks.wait()
        self.canvas.tools["scissors"].maps.wait()
        self.gate.stop()
        if self.online is not None:
            self.online.stop()
            self.online.model_ready.disconnect(self._on_online_model)  # nothing may reach a closed window
        self.controller.flush_autosave()
        event.accept()
