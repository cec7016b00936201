"""COCO box and mask AP of a model on an annotated set, via pycocotools, as a plain dict."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..data.images import read_image
from ..data.rle import annotation_rle, mask_to_rle, rle_area, rle_bbox
from ..formats.coco import CocoData
from ..formats.dataset import resolve_image_path
from ..structures import Progress, ProgressCallback

STAT_NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


def category_mapping(class_names: list[str], coco: CocoData) -> dict[int, int]:
    """Model class index -> category id of ``coco``, matched by name. Classes the file lacks are absent."""
    by_name = {c["name"]: c["id"] for c in coco.categories}
    return {i: by_name[n] for i, n in enumerate(class_names) if n in by_name}


def predictions_to_results(image_id: int, predictions, class_to_category: dict[int, int]) -> list[dict]:
    results = []
    for p in predictions:
        if p.label not in class_to_category:
            continue
        x0, y0, x1, y1 = p.box
        results.append(
            {
                "image_id": image_id,
                "category_id": class_to_category[p.label],
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "score": p.score,
                "segmentation": mask_to_rle(p.mask),
            }
        )
    return results


def coco_metrics(gt_json: dict, results: list[dict]) -> dict[str, dict[str, float]]:
    """{"bbox": {AP, AP50, ...}, "segm": {...}}; AP values in [0, 1]; -1 where undefined."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_json
        gt.createIndex()
        metrics = {}
        for iou_type in ("bbox", "segm"):
            if not results:
                metrics[iou_type] = {k: 0.0 for k in STAT_NAMES}
                continue
            dt = gt.loadRes([dict(r) for r in results])
            ev = COCOeval(gt, dt, iou_type)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            metrics[iou_type] = {k: float(v) for k, v in zip(STAT_NAMES, ev.stats, strict=True)}
    return metrics


def evaluate(
    segmenter,
    coco: CocoData,
    images_dir: str | Path,
    batch_size: int = 1,
    progress: ProgressCallback | None = None,
) -> dict[str, dict[str, float]]:
    """Run ``segmenter`` (istr_core.predict.segmenter.Segmenter or anything with ``predict_batch`` and
    ``class_names``) over ``coco``'s images and score it against ``coco``'s annotations. Detections
    are ranked as (object, class) pairs, as COCO evaluation of the DETR family and the ISTR paper do."""
    mapping = category_mapping(segmenter.class_names, coco)
    if not mapping:
        raise ValueError(f"none of the model's classes {segmenter.class_names[:5]} appear in {coco.path}")
    results: list[dict] = []
    images = coco.images
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        arrays = [read_image(resolve_image_path(images_dir, im.file_name)) for im in chunk]
        predictions = segmenter.predict_batch(arrays, score_threshold=0.0, class_pairs=True)
        for im, preds in zip(chunk, predictions, strict=True):
            results += predictions_to_results(im.id, preds, mapping)
        if progress:
            progress(Progress(min(start + batch_size, len(images)), len(images)))
    return coco_metrics(_gt_json(coco), results)


def _gt_json(coco: CocoData) -> dict:
    """The validated annotations as pycocotools wants them (area, bbox, id and iscrowd filled in)."""
    data = coco.to_dict()
    sizes = {im.id: (im.height, im.width) for im in coco.images}
    annotations = []
    for a in data["annotations"]:
        a = dict(a)
        a.setdefault("iscrowd", 0)
        a.setdefault("id", len(annotations) + 1)
        if "area" not in a or "bbox" not in a:
            rle = annotation_rle(a, *sizes[a["image_id"]])
            a.setdefault("area", float(rle_area(rle)))
            a.setdefault("bbox", rle_bbox(rle))
        annotations.append(a)
    return {**data, "annotations": annotations}
