"""Typed containers passed between the core and its users (CLI, GUI)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Prediction:
    """One predicted instance in original image pixels.

    mask: (H, W) bool; box: (x0, y0, x1, y1) floats; label: index into the model's class names.
    """

    mask: np.ndarray
    box: tuple[float, float, float, float]
    label: int
    score: float


@dataclass(frozen=True)
class Progress:
    """How far a long job has come: ``done`` of ``total`` steps (images segmented or evaluated,
    training iterations; total None when a time budget ends the job). Training adds the step's
    losses (``"loss"`` is their sum), the learning rate, and the elapsed and remaining seconds."""

    done: int
    total: int | None
    losses: dict[str, float] = field(default_factory=dict)
    lr: float | None = None
    elapsed_s: float = 0.0
    eta_s: float | None = None


# what every long job of the core takes as ``progress``: segment, evaluate, train, finetune
ProgressCallback = Callable[[Progress], None]
