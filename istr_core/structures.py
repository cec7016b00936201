"""Typed containers passed between the core and its users (CLI, GUI)."""

from __future__ import annotations

from dataclasses import dataclass

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
