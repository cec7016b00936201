"""Pre-label outlines as predicted against snapped to the image's edge (istr_core/predict/edge_snap.py).

The online loop learns the first ``--train-first`` images of ANNOTATIONS (``--steps`` per image, as
the session benchmark does; or ``--weights`` is used as it is), then pre-labels the next images
(``--score`` and up): how many of its pre-labels an annotator would accept as shown (mask IoU >=
0.85, greedy matching by score), with the model's outlines and snapped, and how many matched
pre-labels cross 0.85 either way. ``--val``: mask AP both ways.

    python benchmarks/edge_snap.py ../shared/data/nuclei/train.json --train-first 10 --steps 23 --next 10 \
        [--online-option zoom_target_side=48]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from istr_core.data.shipped import DEFAULT_MODEL
from istr_core.eval.annotation_cost import greedy_match, mask_iou_matrix
from istr_core.eval.coco_eval import evaluate
from istr_core.eval.session import load_truths
from istr_core.formats.coco import load_coco
from istr_core.predict.edge_snap import snap_predictions, snap_to_edges
from istr_core.predict.segmenter import Segmenter
from istr_core.train.checkpoint import load_checkpoint
from istr_core.train.online import OnlineConfig, OnlineTrainer
from istr_core.train.precision import cpu_report

ACCEPT_IOU, MATCH_IOU = 0.85, 0.5


class SnappedSegmenter:
    """A Segmenter whose predictions' masks are snapped (for COCO evaluation)."""

    def __init__(self, segmenter: Segmenter):
        self.segmenter, self.class_names = segmenter, segmenter.class_names

    def predict_batch(self, images, score_threshold=0.0, class_pairs=False):
        out = self.segmenter.predict_batch(images, score_threshold, class_pairs)
        return [snap_predictions(im, preds) for im, preds in zip(images, out, strict=True)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("annotations", type=Path)
    ap.add_argument("--images", type=Path, help="default: the JSON's folder")
    ap.add_argument("--weights", type=Path, default=DEFAULT_MODEL, help="starting model")
    ap.add_argument("--train-first", type=int, default=10, help="images the online loop learns first")
    ap.add_argument("--steps", type=int, default=20, help="online steps per learned image")
    ap.add_argument("--next", type=int, default=10, help="images pre-labelled after them")
    ap.add_argument(
        "--trained", action="store_true", help="--weights has learned the first images already: no training"
    )
    ap.add_argument("--score", type=float, default=0.3, help="pre-labels shown from this score")
    ap.add_argument("--val", type=Path, help="COCO JSON to score mask AP on, both ways")
    ap.add_argument("--online-option", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.online_option)}
    images = args.images or args.annotations.parent
    coco = load_coco(args.annotations, images)
    truths = load_truths(coco, images, args.train_first + args.next)
    checkpoint = load_checkpoint(args.weights)
    if args.train_first and not args.trained:
        trainer = OnlineTrainer(checkpoint, coco.class_names, OnlineConfig(**options))
        for t in truths[: args.train_first]:
            trainer.add_example(t.key, t.image, t.masks, t.labels)
            trainer.train_for(steps=args.steps)
        checkpoint = trainer.checkpoint(with_train_state=False)
    segmenter = Segmenter(checkpoint, "cpu")
    counts = {"objects": 0, "accepted": 0, "accepted_snapped": 0, "up": 0, "down": 0, "snap_s": 0.0}
    for t in truths[args.train_first :]:
        preds = segmenter.predict(t.image, args.score)
        masks, scores, true = [p.mask for p in preds], [p.score for p in preds], list(t.masks.astype(bool))
        started = time.monotonic()
        snapped = snap_to_edges(t.image, masks)
        counts["snap_s"] += time.monotonic() - started
        counts["objects"] += len(true)
        raw_iou, snap_iou = mask_iou_matrix(masks, true), mask_iou_matrix(snapped, true)
        for p, k in greedy_match(raw_iou, scores, MATCH_IOU):
            counts["up"] += int(raw_iou[p, k] < ACCEPT_IOU <= snap_iou[p, k])
            counts["down"] += int(snap_iou[p, k] < ACCEPT_IOU <= raw_iou[p, k])
        for key, iou in (("accepted", raw_iou), ("accepted_snapped", snap_iou)):
            counts[key] += sum(int(iou[p, k] >= ACCEPT_IOU) for p, k in greedy_match(iou, scores, MATCH_IOU))
    counts["snap_s"] = round(counts["snap_s"], 2)
    out = {"benchmark": "edge_snap", **vars(args), **counts, "cpu": cpu_report()}
    if args.val:
        val = load_coco(args.val, images)
        for name, model in (("val_mask_ap", segmenter), ("val_mask_ap_snapped", SnappedSegmenter(segmenter))):
            out[name] = round(evaluate(model, val, images)["segm"]["AP"], 3)
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
