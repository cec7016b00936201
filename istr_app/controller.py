"""The controller: owns the project and the undo stack, is the only writer, and tells views.

Widgets call the request methods (``paint``, ``delete_selected`` ...); each becomes one undoable
command, followed by change signals and an autosave. Views never touch ``Project`` directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from istr_core.data.images import ImageReadError, list_images, read_image
from istr_core.formats.dataset import AnnotationError

from .core import autosave
from .core.document import MODEL, PRELABELLED, REVIEWED, UNLABELLED, ImageRecord, Instance, Project
from .core.edits import (
    AddInstances,
    Command,
    Composite,
    EditMask,
    RemoveInstances,
    SetAttribute,
    SetStatus,
    UndoStack,
)
from .core.geometry import stroke_mask
from .core.project_io import format_of, load_coco_into, project_to_coco, read_coco, save_as, save_coco


def load_project(folder: Path, annotations: Path | None) -> tuple[Project, list[str]]:
    """Folder listing plus, when the file exists, the masks of ``annotations`` for review."""
    project = Project(folder, list_images(folder))
    warnings = []
    if annotations is not None and annotations.exists():  # a COCO file or any other format's path
        coco, warnings = read_coco(annotations)
        warnings += load_coco_into(project, coco)
    return project, warnings


class Controller(QObject):
    current_changed = Signal()  # another image is shown
    instances_changed = Signal()  # masks/labels/scores of the current image or the filter changed
    records_changed = Signal()  # statuses or instance counts in the image list changed
    classes_changed = Signal()
    selection_changed = Signal()
    model_changed = Signal()
    click_path_changed = Signal()  # the click tool switched between the model's and the weight-free path
    reviewed = Signal(str)  # an image was marked reviewed: the online loop learns from it
    message = Signal(str)

    def __init__(
        self, project: Project, annotations: Path | None = None, segmenter=None, weights: Path | None = None
    ):
        super().__init__()
        self.project = project
        self.annotations = annotations
        self.annotations_format = format_of(annotations) if annotations else "coco"  # what Save writes
        self.undo_stack = UndoStack(project)
        self.autosave_path = autosave.sidecar_path(project.folder, annotations)
        self.segmenter, self.weights = None, weights
        self.current = -1
        self.image: np.ndarray | None = None
        self.selection: list[int] = []
        self.threshold, self.brush_radius, self.current_class = 0.3, 8, 0
        self.click_model = True  # the click tool uses the model (when there is one); the gate may say not
        self.snap_edges = False  # pre-labels' outlines snapped to the image's edges: the gate's choice
        # pre-labels found like the reviewed objects of each image size, not the model's: the gate's choice
        self.exemplar_sources = None
        # nothing shown until the annotator has made the first few objects of an image, then the
        # objects like those (the gate's choice: "click a few, then find the rest")
        self.seeded = False
        self.dirty = False
        self.autosave_enabled = True  # off for the headless self-check, which must not touch DIR
        self._writer = autosave.BackgroundWriter()
        if segmenter is not None:
            self.set_segmenter(segmenter, weights)
        if not project.class_names:
            project.class_names.append("object")

    # ----- navigation and model -------------------------------------------------------------
    @property
    def record(self) -> ImageRecord | None:
        return self.project.records[self.current] if 0 <= self.current < len(self.project.records) else None

    def set_current(self, index: int) -> None:
        """Show image ``index`` (clamped); an unreadable file shows as empty with a message."""
        if not self.project.records:
            return
        index = max(0, min(index, len(self.project.records) - 1))
        if index == self.current and self.image is not None:
            return
        self.current, self.selection = index, []
        rec = self.record
        try:
            self.image = read_image(rec.path)
            rec.size = self.image.shape[:2]
            if any(i.mask.shape != rec.size for i in rec.instances):
                self.message.emit(
                    f"{rec.key}: some masks do not match the image size {rec.size} (wrong COCO "
                    "width/height or EXIF rotation); they are hidden"
                )
        except ImageReadError as e:
            self.image = None
            self.message.emit(str(e))
        self.current_changed.emit()
        self.instances_changed.emit()
        self.selection_changed.emit()

    def step(self, delta: int) -> None:
        self.set_current(self.current + delta)

    def set_segmenter(self, segmenter, weights: Path | None) -> None:
        """Use a (new) model; its class names are merged into the project's by name."""
        self.segmenter, self.weights = segmenter, weights
        for name in segmenter.class_names:
            self.project.class_index(name)
        self.classes_changed.emit()
        self.model_changed.emit()

    @property
    def click_segmenter(self):
        """The model the click tool uses: the current one, or None for its weight-free path."""
        return self.segmenter if self.click_model else None

    def set_click_model(self, use: bool) -> None:
        if use != self.click_model:
            self.click_model = use
            self.click_path_changed.emit()

    # ----- edits ----------------------------------------------------------------------------
    def execute(self, command: Command) -> None:
        """Apply a new edit; background results for other images do not move the view."""
        self.undo_stack.push(command)
        self._after_edit(command, navigate=False)

    def undo(self) -> None:
        self._after_edit(self.undo_stack.undo(), navigate=True)

    def redo(self) -> None:
        self._after_edit(self.undo_stack.redo(), navigate=True)

    def _after_edit(self, command: Command | None, navigate: bool) -> None:
        if command is None:
            return
        if navigate and (self.record is None or command.key != self.record.key):
            self.set_current(self.project.index_of(command.key))
        rec = self.record
        if rec is not None:
            shown = {i.id for i in rec.visible(self.threshold)}
            self.selection = [i for i in self.selection if i in shown]
        self.dirty = True
        self.instances_changed.emit()
        self.records_changed.emit()
        self.selection_changed.emit()
        self.write_autosave()

    def visible_instances(self) -> list[Instance]:
        return self.record.visible(self.threshold) if self.record else []

    def set_threshold(self, value: float) -> None:
        """Live confidence filter: no model re-run, predictions >= 0.05 are all kept in memory."""
        self.threshold = float(value)
        if self.record:
            self.selection = [i for i in self.selection if self.record.find(i).visible(self.threshold)]
        self.instances_changed.emit()
        self.records_changed.emit()
        self.selection_changed.emit()

    def select(self, ids: list[int]) -> None:
        if list(ids) != self.selection:
            self.selection = list(ids)
            self.selection_changed.emit()

    def instance_at(self, x: float, y: float) -> Instance | None:
        """Topmost (last drawn) visible instance covering pixel (x, y)."""
        xi, yi = int(x), int(y)
        for inst in reversed(self.visible_instances()):
            h, w = inst.mask.shape
            if 0 <= yi < h and 0 <= xi < w and inst.mask[yi, xi]:
                return inst
        return None

    def selected_instance(self) -> Instance | None:
        return self.record.find(self.selection[0]) if self.record and len(self.selection) == 1 else None

    def add_mask(self, mask: np.ndarray, label: int | None = None, key: str | None = None) -> Instance | None:
        """A new human instance from a finished polygon / brush stroke / box (on image ``key``,
        default the current one); selected afterwards."""
        if self.record is None or not mask.any():
            return None
        inst = Instance(mask.astype(bool), self.current_class if label is None else label)
        self.execute(AddInstances(key or self.record.key, [inst]))
        self.select([inst.id])
        return inst

    def set_mask(self, instance_id: int, mask: np.ndarray) -> None:
        inst = self.record.find(instance_id)
        if inst is None:
            return
        if not mask.any():
            self.execute(RemoveInstances(self.record.key, [instance_id]))
            return
        cmd = EditMask(self.record.key, instance_id, inst.mask, mask)
        if not cmd.empty:
            self.execute(self._with_acceptance(cmd, [inst]))

    def _with_acceptance(self, cmd: Command, instances: list[Instance]) -> Command:
        """A human edit of a prediction accepts it, so a later re-pre-label does not replace it."""
        pending = [i.id for i in instances if i.source == MODEL and not i.accepted]
        if not pending:
            return cmd
        return Composite(cmd.key, [cmd, SetAttribute(cmd.key, pending, "accepted", True)], cmd.text)

    def paint(self, points: list[tuple[float, float]], erase: bool = False) -> None:
        """A finished brush/eraser stroke: into the selected instance, a new one, or (eraser with
        nothing selected) out of every visible instance it touches; one undo step either way."""
        if self.image is None or not points:
            return
        stroke = stroke_mask(self.image.shape[:2], points, self.brush_radius)
        target = self.selected_instance()
        if target is not None and target.mask.shape != stroke.shape:
            self.message.emit("this mask does not match the image size and cannot be painted")
            return
        if target is not None:
            self.set_mask(target.id, target.mask & ~stroke if erase else target.mask | stroke)
        elif not erase:
            self.add_mask(stroke)
        else:
            self._erase_all(stroke)

    def _erase_all(self, stroke: np.ndarray) -> None:
        key, cmds, emptied = self.record.key, [], []
        for inst in self.visible_instances():
            if inst.mask.shape != stroke.shape:
                continue
            after = inst.mask & ~stroke
            if not after.any():
                emptied.append(inst.id)
            elif (after != inst.mask).any():
                cmds.append(self._with_acceptance(EditMask(key, inst.id, inst.mask, after), [inst]))
        if emptied:
            cmds.append(RemoveInstances(key, emptied))
        if cmds:
            self.execute(Composite(key, cmds, "erase"))

    def delete_selected(self) -> None:
        if self.record and self.selection:
            self.execute(RemoveInstances(self.record.key, self.selection))

    def set_label_selected(self, label: int) -> None:
        if not 0 <= label < len(self.project.class_names):
            return
        self.current_class = label
        if self.record and self.selection:
            cmd = SetAttribute(self.record.key, self.selection, "label", label)
            self.execute(self._with_acceptance(cmd, [self.record.find(i) for i in self.selection]))

    def accept_selected(self) -> None:
        if self.record and self.selection:
            self.execute(SetAttribute(self.record.key, self.selection, "accepted", True))

    def accept_all(self) -> None:
        """Accept the visible predictions, drop the hidden ones, mark the image reviewed."""
        rec = self.record
        if rec is None:
            return
        hidden = [i.id for i in rec.instances if not i.visible(self.threshold)]
        shown = [
            i.id for i in rec.instances if i.visible(self.threshold) and not i.accepted and i.source == MODEL
        ]
        cmds: list[Command] = [RemoveInstances(rec.key, hidden)] if hidden else []
        if shown:
            cmds.append(SetAttribute(rec.key, shown, "accepted", True))
        cmds.append(SetStatus(rec.key, REVIEWED))
        self.execute(Composite(rec.key, cmds, "accept all"))
        self.reviewed.emit(rec.key)

    def add_class(self, name: str) -> int:
        name = name.strip()
        if not name:
            return self.current_class
        index = self.project.class_index(name)
        self.classes_changed.emit()
        return index

    def apply_predictions(self, key: str, predictions) -> None:
        """Replace an image's unaccepted predictions with new ones (one undo step).

        ``predictions``: ``Prediction``s, or the worker's ``Prelabels`` (what it shows, RLE-encoded).
        While the gate wants images clicked first (``seeded``) none is shown, whenever the worker
        that made them started (the pre-label gate keeps them for pricing all the same)."""
        rec = self.project.record(key)
        names = self.segmenter.class_names
        project_labels = getattr(predictions, "project_labels", False)
        items = [] if self.seeded else getattr(predictions, "shown", predictions)
        new = []
        for item in items:
            p, encoded = item[:2] if isinstance(item, tuple) else (item, None)
            new.append(
                Instance(
                    p.mask.astype(bool),
                    p.label if project_labels else self.project.class_index(names[p.label]),
                    float(p.score),
                    MODEL,
                    rle_cache=None if encoded is None else (0, *encoded),
                )
            )
        old = _unaccepted_prelabels(rec)
        cmds: list[Command] = [RemoveInstances(key, old)] if old else []
        cmds += [AddInstances(key, new), SetStatus(key, PRELABELLED)]
        if rec.size is None and new:
            rec.size = new[0].mask.shape
        self.execute(Composite(key, cmds, "pre-label"))

    def add_found(self, key: str, predictions: list) -> int:
        """Objects found like the image's own (project class indices) as pre-labels beside its
        instances (one undo step), but not those mostly inside an object made while they were
        searched for; returns how many the slider shows."""
        masks, _ = self.reviewed_masks(key)
        made = masks.any(0) if len(masks) else None
        new = [
            Instance(p.mask.astype(bool), int(p.label), float(p.score), MODEL)
            for p in predictions
            if made is None
            or made.shape != p.mask.shape
            or np.count_nonzero(p.mask & made) <= 0.5 * np.count_nonzero(p.mask)
        ]
        if new:
            self.execute(AddInstances(key, new))
        return sum(i.score >= self.threshold for i in new)

    def hide_prelabels(self, key: str) -> int:
        """Remove the image's pre-labels nobody accepted (one undo step): the gate now wants it
        shown nothing; returns how many."""
        old = _unaccepted_prelabels(self.project.record(key))
        if old:
            self.execute(RemoveInstances(key, old))
        return len(old)

    def prelabel_current_sync(self) -> None:
        """Pre-label on the calling thread; only for the headless self-check (--screenshot)."""
        if self.segmenter is not None and self.image is not None:
            self.apply_predictions(self.record.key, self.segmenter.predict(self.image, score_threshold=0.05))

    # ----- files ----------------------------------------------------------------------------
    def default_save_path(self) -> Path:
        return self.annotations or self.project.folder / "annotations.json"

    def save(self, path: Path | None = None) -> Path:
        """Write the visible instances of every touched image (COCO, or the format the annotations
        were opened from); clears the autosave."""
        path = Path(path) if path else self.default_save_path()
        fmt = self.annotations_format if path == self.annotations else format_of(path)
        saved = save_as(path, self.project, *self._visible(), fmt)
        for w in saved.warnings[:5]:
            self.message.emit(f"warning: {w}")
        self.annotations, self.annotations_format, self.dirty = path, fmt, False
        self.flush_autosave()
        autosave.discard(self.autosave_path)
        self.autosave_path = autosave.sidecar_path(self.project.folder, path)
        autosave.discard(self.autosave_path)
        self.message.emit(f"saved {saved.instances} instances on {saved.images} images to {path}")
        return path

    def _visible(self):
        """What Save and Export write: every touched image, the instances the slider shows."""
        return (lambda r: r.status != UNLABELLED or bool(r.instances), lambda i: i.visible(self.threshold))

    def export(self, path: Path, fmt: str) -> list[str]:
        """Write the visible instances as ``fmt`` (images copied where the layout needs them); the
        open file, the autosave and the unsaved state stay as they are. Returns the format's warnings."""
        warnings = save_as(path, self.project, *self._visible(), fmt).warnings
        self.message.emit(f"exported {fmt} to {path}" + (f" ({len(warnings)} warnings)" if warnings else ""))
        return warnings

    def open_annotations(self, path: Path) -> list[str]:
        """Load annotations of any format onto the open folder (replacing its masks); Save then writes
        back to ``path`` in its format. Returns the per-item warnings."""
        coco, warnings = read_coco(path)
        warnings += load_coco_into(self.project, coco)
        self.undo_stack = UndoStack(self.project)
        self.annotations, self.annotations_format, self.dirty = path, format_of(path), False
        self.autosave_path = autosave.sidecar_path(self.project.folder, path)
        self.selection = []
        self.classes_changed.emit()
        self.records_changed.emit()
        self.instances_changed.emit()
        self.selection_changed.emit()
        return warnings

    def write_reviewed(self, path: Path) -> int:
        """COCO of the reviewed images only (the fine-tuning set); returns the number of images."""
        coco = project_to_coco(
            self.project, lambda r: r.status == REVIEWED, lambda i: i.visible(self.threshold)
        )
        save_coco(path, coco, self.project.folder)
        return len(coco["images"])

    def write_autosave(self) -> None:
        """Snapshot now (GUI thread, cheap), write in the background; ``flush_autosave`` waits."""
        if not self.autosave_enabled:
            return
        if self._writer.error:
            self.message.emit(f"autosave failed: {self._writer.error}")
        self._writer.submit(self.autosave_path, autosave.snapshot(self.project))

    def flush_autosave(self) -> None:
        self._writer.flush()

    def recover(self) -> None:
        """Load the autosave sidecar (the user accepted recovery at start-up)."""
        try:
            warnings = autosave.recover(self.project, self.autosave_path)
        except (AnnotationError, KeyError, TypeError, ValueError) as e:
            self.message.emit(f"cannot recover {self.autosave_path}: {e} (file kept)")
            return
        for w in warnings:
            self.message.emit(w)
        self.dirty = True
        self.records_changed.emit()
        self.instances_changed.emit()
        self.classes_changed.emit()

    def unreviewed_keys(self) -> list[str]:
        return [r.key for r in self.project.records if r.status != REVIEWED]

    def upcoming_keys(self, count: int) -> list[str]:
        """The next ``count`` unreviewed images after the current one: what to pre-label ahead."""
        records = self.project.records[self.current + 1 :]
        return [r.key for r in records if r.status != REVIEWED][:count]

    def reviewed_masks(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """((M, H, W) bool masks, (M,) labels) of an image's visible instances: its ground truth."""
        rec = self.project.record(key)
        shown = [i for i in rec.visible(self.threshold) if rec.size is None or i.mask.shape == rec.size]
        if not shown:
            return np.zeros((0, *(rec.size or (1, 1))), bool), np.zeros(0, np.int64)
        return np.stack([i.mask for i in shown]), np.array([i.label for i in shown], np.int64)

    def counts(self, rec: ImageRecord) -> int:
        return len(rec.visible(self.threshold))


def _unaccepted_prelabels(rec: ImageRecord) -> list[int]:
    """Ids of the image's pre-labels (the model's or found) nobody accepted."""
    return [i.id for i in rec.instances if i.source == MODEL and not i.accepted]
