"""Qt-free document model: a project is a folder of images, each with a list of instances.

Kept free of Qt so that COCO round trips, undo and autosave can be unit-tested without a display,
and so the widgets are never the store of truth (see docs/gui.md).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

UNLABELLED, PRELABELLED, REVIEWED = "unlabelled", "pre-labelled", "reviewed"
STATUSES = (UNLABELLED, PRELABELLED, REVIEWED)
MODEL, HUMAN = "model", "human"

_ids = itertools.count(1)


def new_instance_id() -> int:
    """Process-wide unique ids, so undo commands can refer to instances without holding indices."""
    return next(_ids)


@dataclass(eq=False)
class Instance:
    """One object on one image.

    mask: (H, W) bool; label: index into ``Project.class_names``; score: model confidence or None
    for human-drawn masks; accepted: a reviewer confirmed a model prediction (it then survives the
    confidence filter).
    """

    mask: np.ndarray
    label: int
    score: float | None = None
    source: str = HUMAN
    accepted: bool = False
    id: int = field(default_factory=new_instance_id)
    version: int = 0  # bumped by every in-place mask edit; keys the RLE cache of project_io
    rle_cache: tuple | None = field(default=None, repr=False)

    def visible(self, threshold: float) -> bool:
        """Human and accepted instances always show; raw predictions only above the slider."""
        return self.source == HUMAN or self.accepted or (self.score or 0.0) >= threshold


@dataclass(eq=False)
class ImageRecord:
    """An image file and its annotations. ``key`` is the posix path relative to the project folder,
    which is also the COCO ``file_name``; ``size`` is (height, width) once known."""

    path: Path
    key: str
    size: tuple[int, int] | None = None
    status: str = UNLABELLED
    instances: list[Instance] = field(default_factory=list)

    def find(self, instance_id: int) -> Instance | None:
        return next((i for i in self.instances if i.id == instance_id), None)

    def index_of(self, instance_id: int) -> int:
        for k, inst in enumerate(self.instances):
            if inst.id == instance_id:
                return k
        raise KeyError(f"instance {instance_id} is not on {self.key}")

    def visible(self, threshold: float) -> list[Instance]:
        return [i for i in self.instances if i.visible(threshold)]


class Project:
    """The folder being annotated, its images (in ``list_images`` order) and the class names."""

    def __init__(self, folder: str | Path, paths: list[Path], class_names: list[str] | None = None):
        self.folder = Path(folder)
        self.records = [ImageRecord(p, p.relative_to(self.folder).as_posix()) for p in paths]
        self.class_names: list[str] = list(class_names or [])
        self._by_key = {r.key: r for r in self.records}

    def record(self, key: str) -> ImageRecord:
        return self._by_key[key]

    def has(self, key: str) -> bool:
        return key in self._by_key

    def add_record(self, path: Path) -> ImageRecord:
        """Append an image that was named in a COCO file but not found by ``list_images``."""
        rec = ImageRecord(path, path.relative_to(self.folder).as_posix())
        self.records.append(rec)
        self._by_key[rec.key] = rec
        return rec

    def class_index(self, name: str) -> int:
        """Index of ``name``, appending it when new (model and file class lists are merged by name)."""
        if name not in self.class_names:
            self.class_names.append(name)
        return self.class_names.index(name)

    def index_of(self, key: str) -> int:
        return next(k for k, r in enumerate(self.records) if r.key == key)
