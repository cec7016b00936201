"""Qt-free tests of the document model and the undo stack."""

from pathlib import Path

import numpy as np

from istr_app.core.document import HUMAN, MODEL, REVIEWED, UNLABELLED, Instance, Project
from istr_app.core.edits import (
    AddInstances,
    Composite,
    EditMask,
    RemoveInstances,
    SetAttribute,
    SetStatus,
    UndoStack,
)


def make_project(tmp_path: Path, n: int = 2) -> Project:
    paths = [tmp_path / f"im{k}.png" for k in range(n)]
    return Project(tmp_path, paths, ["a", "b"])


def square(h=20, w=30, y0=2, y1=8, x0=3, x1=9):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_project_keys_and_class_merge(tmp_path):
    p = make_project(tmp_path)
    assert [r.key for r in p.records] == ["im0.png", "im1.png"]
    assert p.class_index("b") == 1 and p.class_index("c") == 2 and p.class_names == ["a", "b", "c"]
    assert p.records[0].status == UNLABELLED and p.records[0].instances == []


def test_visibility_filter():
    assert not Instance(square(), 0, 0.2, MODEL).visible(0.3)
    assert Instance(square(), 0, 0.2, MODEL, accepted=True).visible(0.3)
    assert Instance(square(), 0, None, HUMAN).visible(0.99)


def test_add_remove_undo_redo_keeps_order(tmp_path):
    p = make_project(tmp_path)
    stack = UndoStack(p)
    a, b, c = (Instance(square(), 0) for _ in range(3))
    stack.push(AddInstances("im0.png", [a, b, c]))
    stack.push(RemoveInstances("im0.png", [b.id]))
    assert p.records[0].instances == [a, c]
    stack.undo()
    assert p.records[0].instances == [a, b, c]
    stack.undo()
    assert p.records[0].instances == []
    stack.redo()
    stack.redo()
    assert p.records[0].instances == [a, c]
    assert not stack.can_redo()


def test_edit_mask_stores_only_the_changed_box(tmp_path):
    p = make_project(tmp_path)
    stack = UndoStack(p)
    inst = Instance(square(200, 300), 0)
    stack.push(AddInstances("im0.png", [inst]))
    before = inst.mask.copy()
    after = before.copy()
    after[50:60, 100:105] = True
    cmd = stack.push(EditMask("im0.png", inst.id, inst.mask, after))
    assert cmd.before.shape == (10, 5)  # a diff, not a whole-image copy
    assert np.array_equal(inst.mask, after)
    stack.undo()
    assert np.array_equal(inst.mask, before)
    stack.redo()
    assert np.array_equal(inst.mask, after)


def test_attributes_status_and_composite_undo_as_one_step(tmp_path):
    p = make_project(tmp_path)
    stack = UndoStack(p)
    a = Instance(square(), 0, 0.9, MODEL)
    stack.push(AddInstances("im0.png", [a]))
    stack.push(
        Composite(
            "im0.png",
            [
                SetAttribute("im0.png", [a.id], "label", 1),
                SetAttribute("im0.png", [a.id], "accepted", True),
                SetStatus("im0.png", REVIEWED),
            ],
            "accept all",
        )
    )
    assert (a.label, a.accepted, p.records[0].status) == (1, True, REVIEWED)
    stack.undo()
    assert (a.label, a.accepted, p.records[0].status) == (0, False, UNLABELLED)


def test_new_edit_drops_redo_branch(tmp_path):
    p = make_project(tmp_path)
    stack = UndoStack(p)
    stack.push(AddInstances("im0.png", [Instance(square(), 0)]))
    stack.undo()
    stack.push(AddInstances("im1.png", [Instance(square(), 0)]))
    assert not stack.can_redo() and stack.can_undo()


def test_rle_cache_follows_mask_edits(tmp_path):
    from istr_app.core.project_io import _encoded
    from istr_core.data.rle import rle_to_mask

    p = make_project(tmp_path)
    stack = UndoStack(p)
    inst = Instance(square(), 0)
    stack.push(AddInstances("im0.png", [inst]))
    assert rle_to_mask(_encoded(inst)[0]).sum() == 36
    after = inst.mask.copy()
    after[10:12, 10:12] = True
    stack.push(EditMask("im0.png", inst.id, inst.mask, after))
    assert np.array_equal(rle_to_mask(_encoded(inst)[0]), after)
    stack.undo()
    assert _encoded(inst)[2] == 36
