"""``istr eval``."""
from __future__ import annotations

from pathlib import Path

from ..cli_support import progress_bar
from ..data.coco import load_coco
from ..eval.coco_eval import evaluate
from ..inference import Segmenter


def run_eval(annotations: Path, images: Path, weights: Path | None, batch_size: int, device: str,
             show_progress: bool = True) -> dict:
    coco = load_coco(annotations, images)
    segmenter = Segmenter.from_checkpoint(weights, device)
    if not show_progress:
        return evaluate(segmenter, coco, images, batch_size)
    with progress_bar("evaluating", len(coco.images)) as (bar, task):
        return evaluate(segmenter, coco, images, batch_size,
                        progress=lambda done, total: bar.update(task, completed=done))
