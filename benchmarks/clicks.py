"""Clicks per object by the standard protocol (RITM / SimpleClick) on a COCO file.

For every object: the first click is positive, at the point deepest inside it; each next click goes
to the pixel deepest inside the larger error region (positive in a missed region, negative in a
wrongly included one); at most 20 clicks. Prints one JSON line per method:

    {"method": "model"|"no-model"|"box"|"polygon"|"scissors", "noc85": .., "noc90": .., "missed85": ..,
     "missed90": .., "ms_per_click": .., "ms_set_image": .., "objects": ..}

"box" is the box tool without a model: a drag of the object's tight box (one interaction, counted
as a click), then clicks by the same protocol that correct the box's mask (``iou_1click`` is then the
box's IoU).
"polygon" is the baseline: the vertex count of the simplest polygon of the true mask (Douglas-Peucker
with a falling tolerance) that reaches the IoU, i.e. the clicks of a polygon annotator (not capped).
"scissors" is the edge-snapping polygon (``istr_core.interactive.scissors``): anchors on the true
outline, its extreme points first, then each where the snapped polygon is farthest from it, an anchor
counting as a click (at most 20); ``ms_per_click`` is the simulation's time per anchor (its paths'
maps over windows around both ends), ``ms_anchor_map`` what the GUI tool computes in the background
per anchor (the map of a 512 px window) and ``us_path_to`` its preview under the cursor.

    python benchmarks/clicks.py COCO.json --images DIR [--weights CKPT|none] [--max-objects N]

``--weights`` default: the embedded model; ``none``: only the weight-free path. The model and
no-model methods both run with a model; "no-model" alone with ``none``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import cv2
import numpy as np
import torch

from istr_core.data.images import read_image
from istr_core.data.rle import annotation_mask
from istr_core.formats.coco import load_coco
from istr_core.formats.dataset import resolve_image_path
from istr_core.interactive import (
    ClickPredictor,
    Scissors,
    clicks_to_reach,
    mask_iou,
    simulate,
    simulate_anchors,
)
from istr_core.train.precision import cpu_report

MAX_CLICKS = 20


def polygon_vertices(gt: np.ndarray, target: float) -> int:
    """Fewest vertices of a Douglas-Peucker polygon of ``gt``'s outline (all its parts) with IoU >=
    ``target``; the full outline's vertex count when no simplification reaches it."""
    contours, _ = cv2.findContours(gt.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contours = [c for c in contours if len(c) >= 3]
    diag = float(np.hypot(*gt.shape))
    for eps in diag * 0.5 ** np.arange(1, 20, 0.25):
        polys = [cv2.approxPolyDP(c, eps, True) for c in contours]
        drawn = np.zeros(gt.shape, np.uint8)
        cv2.fillPoly(drawn, [p for p in polys if len(p) >= 3], 1)
        if mask_iou(drawn.astype(bool), gt) >= target:
            return sum(len(p) for p in polys)
    return sum(len(c) for c in contours)


def _scissors(scissors: Scissors, gt: np.ndarray, times: list, latency: list, gui: bool) -> list[float]:
    """IoU by anchor count for one object (``times`` gets the seconds per anchor); with ``gui``, the
    GUI tool's latency too: (anchor map, path to a point) seconds into ``latency``."""
    t0 = time.perf_counter()
    ious = simulate_anchors(scissors, gt, MAX_CLICKS, stop_at=0.9)
    times += [(time.perf_counter() - t0) / max(len(ious), 1)] * max(len(ious), 1)
    ys, xs = np.nonzero(gt)
    if gui and xs.size:
        t0 = time.perf_counter()
        anchor = scissors.anchor(xs.min(), ys[np.argmin(xs)])
        t1 = time.perf_counter()
        anchor.path_to(xs.max(), ys[np.argmax(xs)])
        latency += [t1 - t0, time.perf_counter() - t1]
    return ious or [0.0]


def _box_then_clicks(predictor: ClickPredictor, gt: np.ndarray, times: list) -> list[float]:
    """IoU after the tight box's drag, then after each correcting click (at most MAX_CLICKS in all)."""
    ys, xs = np.nonzero(gt)
    t0 = time.perf_counter()
    start = predictor.predict_box((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    times.append(time.perf_counter() - t0)
    ious = [0.0 if start is None else mask_iou(start, gt)]
    if ious[0] >= 0.9:
        return ious

    def predict(clicks):
        t0 = time.perf_counter()
        out = predictor.predict(clicks, prev_mask=start)
        times.append(time.perf_counter() - t0)
        return out

    return ious + simulate(predict, gt, MAX_CLICKS - 1, stop_at=0.9, start=start)


def summarise(method: str, ious: list[list[float]], times: list[float], set_times: list[float]) -> dict:
    noc85 = [clicks_to_reach(i, 0.85, MAX_CLICKS) for i in ious]
    noc90 = [clicks_to_reach(i, 0.90, MAX_CLICKS) for i in ious]
    return {
        "method": method,
        "noc85": round(float(np.mean(noc85)), 3),
        "noc90": round(float(np.mean(noc90)), 3),
        "missed85": sum(max(i, default=0) < 0.85 for i in ious),
        "missed90": sum(max(i, default=0) < 0.90 for i in ious),
        "iou_1click": round(float(np.mean([i[0] for i in ious])), 3),
        "ms_per_click": round(1000 * float(np.mean(times)), 1) if times else None,
        "ms_set_image": round(1000 * float(np.mean(set_times)), 1) if set_times else None,
        "objects": len(ious),
    }


def run(annotations, images, weights, max_objects, methods) -> list[dict]:
    coco = load_coco(annotations, images)
    segmenter = None
    if weights != "none":
        from istr_core.predict.segmenter import Segmenter

        segmenter = Segmenter.from_checkpoint(weights, device="cpu")
    clickers = [m for m in methods if m in ("model", "no-model")]
    predictors = {m: ClickPredictor(segmenter if m == "model" else None) for m in clickers}
    box_tool = ClickPredictor(None) if "box" in methods else None
    ious = {m: [] for m in methods}
    times = {m: [] for m in methods}
    set_times = {m: [] for m in methods}
    n = 0
    for im in coco.images:
        if n >= max_objects:
            break
        image = read_image(resolve_image_path(images, im.file_name))
        for m, predictor in predictors.items():
            t0 = time.perf_counter()
            predictor.set_image(image)
            set_times[m].append(time.perf_counter() - t0)
        scissors = Scissors(image)
        if box_tool is not None:
            box_tool.set_image(image)
        for k, ann in enumerate(im.annotations[: max_objects - n]):
            n += 1
            gt = annotation_mask(ann, im.height, im.width).astype(bool)
            if "scissors" in methods:
                ious["scissors"].append(
                    _scissors(scissors, gt, times["scissors"], set_times["scissors"], k == 0)
                )
            if box_tool is not None:
                ious["box"].append(_box_then_clicks(box_tool, gt, times["box"]))
            for m, predictor in predictors.items():

                def predict(clicks, predictor=predictor, m=m):
                    t0 = time.perf_counter()
                    out = predictor.predict(clicks)
                    times[m].append(time.perf_counter() - t0)
                    return out

                ious[m].append(simulate(predict, gt, MAX_CLICKS, stop_at=0.9))
            if "polygon" in methods:
                ious["polygon"].append([])
                v85, v90 = polygon_vertices(gt, 0.85), polygon_vertices(gt, 0.90)
                ious["polygon"][-1] = (v85, v90)
    out = [summarise(m, ious[m], times[m], set_times[m]) for m in clickers]
    if "box" in methods:
        out.append(summarise("box", ious["box"], times["box"], []))
    if "scissors" in methods:
        row = summarise("scissors", ious["scissors"], times["scissors"], [])
        row.pop("iou_1click")
        maps, paths = (
            np.array(set_times["scissors"]).reshape(-1, 2).mean(0) if set_times["scissors"] else (0, 0)
        )
        out.append({**row, "ms_anchor_map": round(1000 * maps, 1), "us_path_to": round(1e6 * paths, 1)})
    if "polygon" in methods:
        v = np.array(ious["polygon"], float)
        out.append(
            {
                "method": "polygon",
                "noc85": round(float(v[:, 0].mean()), 3),
                "noc90": round(float(v[:, 1].mean()), 3),
                "missed85": int((v[:, 0] > MAX_CLICKS).sum()),
                "missed90": int((v[:, 1] > MAX_CLICKS).sum()),
                "ms_per_click": None,
                "objects": len(v),
            }
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("annotations")
    p.add_argument("--images", required=True)
    p.add_argument("--weights", default=None, help="checkpoint; 'none' = no model; default: embedded model")
    p.add_argument("--max-objects", type=int, default=10**9)
    p.add_argument("--methods", default=None, help="comma list of model,no-model,box,polygon,scissors")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    methods = (
        a.methods.split(",")
        if a.methods
        else (
            ["no-model", "box", "polygon", "scissors"]
            if a.weights == "none"
            else ["model", "no-model", "box", "polygon", "scissors"]
        )
    )
    for row in run(a.annotations, a.images, a.weights, a.max_objects, methods):
        load = os.getloadavg()[0]
        isa = cpu_report()["isa"]
        row.update(
            weights=a.weights or "default", threads=torch.get_num_threads(), isa=isa, load=round(load, 1)
        )
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
