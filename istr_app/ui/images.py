"""numpy images as Qt pixmaps, for the canvas and its tools."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def numpy_to_qimage(array: np.ndarray) -> QImage:
    """RGB or RGBA uint8 array -> QImage that owns a copy of the pixels."""
    h, w, c = array.shape
    fmt = QImage.Format.Format_RGBA8888 if c == 4 else QImage.Format.Format_RGB888
    return QImage(np.ascontiguousarray(array).data, w, h, w * c, fmt).copy()


def to_pixmap(array: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(numpy_to_qimage(array))
