"""Interactive segmentation: clicks (and a box or a starting mask) -> one mask.

``ClickPredictor`` (predictor.py) is what the GUI tool and the benchmark call; ``Clicker``
(clicker.py) is the standard click protocol; weightfree.py is the path without a model; scissors.py
the edge-snapping polygon (``Scissors``) and its simulated annotator (``anchors_to_reach``).
"""

from .clicker import Click, Clicker, clicks_to_reach, mask_iou, simulate
from .predictor import ClickPredictor
from .scissors import Scissors, anchors_to_reach, scissors_path, simulate_anchors
from .weightfree import WeightFreeSegmenter, enforce_clicks, magic_wand

__all__ = [
    "Click",
    "ClickPredictor",
    "Clicker",
    "Scissors",
    "WeightFreeSegmenter",
    "anchors_to_reach",
    "clicks_to_reach",
    "enforce_clicks",
    "magic_wand",
    "mask_iou",
    "scissors_path",
    "simulate",
    "simulate_anchors",
]
