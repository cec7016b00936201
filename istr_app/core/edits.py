"""Qt-free undoable edits and the undo stack.

Each command touches one image and stores only what it changes (a mask diff cropped to the changed
box, the removed instances, the old labels), never a copy of the document, so long sessions on big
images stay small in memory.
"""

from __future__ import annotations

import numpy as np

from .document import ImageRecord, Instance, Project


class Command:
    """An edit of ``project.record(key)``. ``redo`` applies it, ``undo`` reverts it exactly."""

    text = "edit"

    def __init__(self, key: str):
        self.key = key

    def redo(self, project: Project) -> None:
        raise NotImplementedError

    def undo(self, project: Project) -> None:
        raise NotImplementedError


class AddInstances(Command):
    text = "add instance"

    def __init__(self, key: str, instances: list[Instance]):
        super().__init__(key)
        self.instances = list(instances)

    def redo(self, project):
        project.record(self.key).instances.extend(self.instances)

    def undo(self, project):
        ids = {i.id for i in self.instances}
        rec = project.record(self.key)
        rec.instances = [i for i in rec.instances if i.id not in ids]


class RemoveInstances(Command):
    """Delete (or reject) instances; remembers their positions so undo restores the drawing order."""

    text = "delete"

    def __init__(self, key: str, ids: list[int]):
        super().__init__(key)
        self.ids = list(ids)
        self.removed: list[tuple[int, Instance]] = []

    def redo(self, project):
        rec = project.record(self.key)
        self.removed = [(k, i) for k, i in enumerate(rec.instances) if i.id in self.ids]
        rec.instances = [i for i in rec.instances if i.id not in self.ids]

    def undo(self, project):
        rec = project.record(self.key)
        for k, inst in self.removed:
            rec.instances.insert(k, inst)


class EditMask(Command):
    """Replace an instance's mask; stores the before/after pixels of the changed box only."""

    text = "edit mask"

    def __init__(self, key: str, instance_id: int, before: np.ndarray, after: np.ndarray):
        super().__init__(key)
        self.instance_id = instance_id
        ys, xs = np.nonzero(before != after)
        if xs.size == 0:
            self.box = (0, 0, 0, 0)
        else:
            self.box = (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)
        y0, y1, x0, x1 = self.box
        self.before = before[y0:y1, x0:x1].copy()
        self.after = after[y0:y1, x0:x1].copy()

    @property
    def empty(self) -> bool:
        return self.before.size == 0

    def _put(self, project, patch):
        y0, y1, x0, x1 = self.box
        inst = project.record(self.key).find(self.instance_id)
        inst.mask[y0:y1, x0:x1] = patch
        inst.version += 1

    def redo(self, project):
        self._put(project, self.after)

    def undo(self, project):
        self._put(project, self.before)


class SetAttribute(Command):
    """Set ``label`` or ``accepted`` of some instances, remembering each old value."""

    def __init__(self, key: str, ids: list[int], name: str, value):
        super().__init__(key)
        assert name in ("label", "accepted")
        self.ids, self.name, self.value = list(ids), name, value
        self.old: dict[int, object] = {}
        self.text = "change class" if name == "label" else "accept"

    def redo(self, project):
        rec = project.record(self.key)
        for i in self.ids:
            inst = rec.find(i)
            self.old[i] = getattr(inst, self.name)
            setattr(inst, self.name, self.value)

    def undo(self, project):
        rec = project.record(self.key)
        for i, v in self.old.items():
            setattr(rec.find(i), self.name, v)


class SetStatus(Command):
    text = "set status"

    def __init__(self, key: str, status: str):
        super().__init__(key)
        self.status, self.old = status, None

    def redo(self, project):
        rec: ImageRecord = project.record(self.key)
        self.old, rec.status = rec.status, self.status

    def undo(self, project):
        project.record(self.key).status = self.old


class Composite(Command):
    """Several commands on one image that undo as a single step (e.g. "accept all")."""

    def __init__(self, key: str, commands: list[Command], text: str):
        super().__init__(key)
        self.commands, self.text = list(commands), text

    def redo(self, project):
        for c in self.commands:
            c.redo(project)

    def undo(self, project):
        for c in reversed(self.commands):
            c.undo(project)


class UndoStack:
    """Linear history. ``push`` applies the command; a new edit drops the redo branch."""

    def __init__(self, project: Project, limit: int = 1000):
        self.project, self.limit = project, limit
        self._done: list[Command] = []
        self._undone: list[Command] = []

    def push(self, command: Command) -> Command:
        command.redo(self.project)
        self._done.append(command)
        self._undone.clear()
        del self._done[: -self.limit]
        return command

    def undo(self) -> Command | None:
        if not self._done:
            return None
        command = self._done.pop()
        command.undo(self.project)
        self._undone.append(command)
        return command

    def redo(self) -> Command | None:
        if not self._undone:
            return None
        command = self._undone.pop()
        command.redo(self.project)
        self._done.append(command)
        return command

    def can_undo(self) -> bool:
        return bool(self._done)

    def can_redo(self) -> bool:
        return bool(self._undone)

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
