"""Interactive segmentation: clicks (and a box or a starting mask) -> one mask.

``ClickPredictor`` (predictor.py) is what the GUI tool and the benchmark call; ``Clicker``
(clicker.py) is the standard click protocol; weightfree.py is the path without a model.
"""

from .clicker import Click, Clicker, clicks_to_reach, mask_iou, simulate
from .predictor import ClickPredictor
from .weightfree import WeightFreeSegmenter, enforce_clicks, magic_wand, scissors_path

__all__ = [
    "Click",
    "ClickPredictor",
    "Clicker",
    "WeightFreeSegmenter",
    "clicks_to_reach",
    "enforce_clicks",
    "magic_wand",
    "mask_iou",
    "scissors_path",
    "simulate",
]
