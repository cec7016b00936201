"""Where a model loses AP on droplets val.json: masks or detections?

Scores the model's predictions as they are and with each mask replaced by (a) the ground-truth shape
of the object it overlaps most, resized into the *predicted* box, and (b) an ellipse inscribed in the
predicted box. If (a) is far above the model, better masks would pay; if not, the detections (boxes,
scores, duplicates, misses) are what lose AP. Then counts, at box IoU 0.5 and greedily by score,
true positives, duplicates (a second detection of an already-found object), background detections
and objects nothing detects. Prints one JSON line.

    python benchmarks/droplets_errors.py CHECKPOINT [--annotations val.json] [--images DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from istr_core.data.images import read_image
from istr_core.data.rle import annotation_mask
from istr_core.eval.coco_eval import _gt_json, category_mapping, coco_metrics, predictions_to_results
from istr_core.formats.coco import load_coco
from istr_core.formats.dataset import resolve_image_path
from istr_core.predict.segmenter import Segmenter
from istr_core.structures import Prediction

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "droplets"


def ellipse_in_box(box, shape) -> np.ndarray:
    x0, y0, x1, y1 = box
    mask = np.zeros(shape, np.uint8)
    axes = (max(1, round((x1 - x0) / 2)), max(1, round((y1 - y0) / 2)))
    cv2.ellipse(mask, (round((x0 + x1) / 2), round((y0 + y1) / 2)), axes, 0, 0, 360, 1, -1)
    return mask.astype(bool)


def truth_in_box(truth: np.ndarray, box, shape) -> np.ndarray:
    """The ground-truth mask cropped to its own box and resized into ``box``."""
    ys, xs = np.nonzero(truth)
    crop = truth[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.uint8)
    x0, y0 = round(box[0]), round(box[1])
    w, h = max(1, round(box[2] - box[0])), max(1, round(box[3] - box[1]))
    resized = cv2.resize(crop, (w, h), interpolation=cv2.INTER_NEAREST)
    out = np.zeros(shape, np.uint8)
    ys0, xs0 = max(0, y0), max(0, x0)
    part = resized[ys0 - y0 : shape[0] - y0, xs0 - x0 : shape[1] - x0]
    out[ys0 : ys0 + part.shape[0], xs0 : xs0 + part.shape[1]] = part
    return out.astype(bool)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def count_errors(predictions: list[Prediction], truth_boxes: np.ndarray, counts: dict) -> None:
    """Greedy by score at box IoU 0.5: true positive, duplicate or background; then missed objects."""
    predictions = sorted(predictions, key=lambda p: -p.score)
    boxes = [[p.box[0], p.box[1], p.box[2] - p.box[0], p.box[3] - p.box[1]] for p in predictions]
    iou = (
        np.asarray(mask_utils.iou(boxes, truth_boxes.tolist(), [0] * len(truth_boxes)))
        if boxes and len(truth_boxes)
        else np.zeros((len(boxes), len(truth_boxes)))
    )
    iou = iou.reshape(len(boxes), len(truth_boxes))
    found: set[int] = set()
    for p, row in zip(predictions, iou, strict=True):
        best = int(row.argmax()) if len(row) else -1
        kind = (
            "background" if best < 0 or row[best] < 0.5 else "duplicate" if best in found else "true_positive"
        )
        if kind == "true_positive":
            found.add(best)
        counts[kind].append(p.score)
    counts["missed"] += int((iou.max(0) < 0.5).sum()) if len(boxes) else len(truth_boxes)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--annotations", type=Path, default=DATA / "val.json")
    ap.add_argument("--images", type=Path, default=DATA / "images")
    args = ap.parse_args()
    coco = load_coco(args.annotations, args.images)
    segmenter = Segmenter.from_checkpoint(args.checkpoint, "cpu")
    mapping = category_mapping(segmenter.class_names, coco)
    variants: dict[str, list] = {
        "model": [],
        "truth_shape_in_predicted_box": [],
        "ellipse_in_predicted_box": [],
    }
    counts: dict = {"true_positive": [], "duplicate": [], "background": [], "missed": 0}
    for image in coco.images:
        pixels = read_image(resolve_image_path(args.images, image.file_name))
        shape = pixels.shape[:2]
        predictions = segmenter.predict_batch([pixels], score_threshold=0.0)[0]
        truths = [annotation_mask(a, image.height, image.width).astype(bool) for a in image.annotations]
        truth_shape, ellipse = [], []
        for p in predictions:
            nearest = max(truths, key=lambda t: mask_iou(t, p.mask)) if truths else None
            truth_shape.append(
                Prediction(
                    truth_in_box(nearest, p.box, shape) if nearest is not None else p.mask,
                    p.box,
                    p.label,
                    p.score,
                )
            )
            ellipse.append(Prediction(ellipse_in_box(p.box, shape), p.box, p.label, p.score))
        for name, preds in (
            ("model", predictions),
            ("truth_shape_in_predicted_box", truth_shape),
            ("ellipse_in_predicted_box", ellipse),
        ):
            variants[name] += predictions_to_results(image.id, preds, mapping)
        count_errors(
            predictions, np.array([a["bbox"] for a in image.annotations], float).reshape(-1, 4), counts
        )
    gt = _gt_json(coco)
    report: dict = {"benchmark": "droplets_errors", "checkpoint": str(args.checkpoint)}
    for name, results in variants.items():
        m = coco_metrics(gt, results)
        report[name] = {
            "mask_AP": round(m["segm"]["AP"], 3),
            "mask_AP50": round(m["segm"]["AP50"], 3),
            "box_AP": round(m["bbox"]["AP"], 3),
        }
    report["objects"] = sum(len(im.annotations) for im in coco.images)
    report["missed_at_iou_0.5"] = counts["missed"]
    for kind in ("true_positive", "duplicate", "background"):
        scores = np.array(counts[kind])
        report[kind] = {
            "count": len(scores),
            "above_0.3": int((scores > 0.3).sum()),
            "median_score": round(float(np.median(scores)), 3) if len(scores) else None,
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
