"""CPU inference latency: ISTR (paper preset, R50) vs torchvision maskrcnn_resnet50_fpn, interleaved A/B.

Same images, same thread count, both in eval mode with random weights (latency does not depend on
training). Random weights score everything below the usual 0.05 threshold, which would let both
models skip their mask heads; so both keep their top 100 detections (score threshold 0) and pay for
100 masks, as on a busy real image. ISTR runs twice per round: its plain path (mask branch for every
proposal, BatchNorm unfused: "before") and the path `istr segment` and the GUI use (mask branch for
kept detections only, BatchNorm folded into the convs by `fuse_for_inference()`: "after").
Prints one JSON line with per-size medians and median ratios.

    python benchmarks/cpu_latency.py [--sizes 480x640 800x1333] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time

import torch
from torchvision.models.detection import maskrcnn_resnet50_fpn

from istr_core import build_model


def timed(model, images) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        model(images)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["480x640", "800x1333"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    plain = build_model(num_classes=80, backbone="resnet50", score_threshold=0.0).eval()
    plain.set_fast_paths(deferred_masks=False)
    istr = copy.deepcopy(plain)
    istr.set_fast_paths(deferred_masks=True)
    istr.fuse_for_inference()
    mrcnn = maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=91, box_score_thresh=0.0, box_detections_per_img=100
    ).eval()
    report = {
        "benchmark": "cpu_latency",
        "threads": args.threads,
        "machine": platform.machine(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "sizes": {},
    }
    for size in args.sizes:
        h, w = (int(v) for v in size.split("x"))
        images = [torch.rand(3, h, w)]
        timed(istr, images), timed(mrcnn, images)  # warm-up
        timed(plain, images)
        a, before, b = [], [], []
        for _ in range(args.repeats):
            a.append(timed(istr, images))
            b.append(timed(mrcnn, images))
            before.append(timed(plain, images))
        report["sizes"][size] = {
            "istr_s": statistics.median(a),
            "istr_plain_s": statistics.median(before),
            "maskrcnn_s": statistics.median(b),
            "ratio_istr_over_maskrcnn": statistics.median(x / y for x, y in zip(a, b, strict=True)),
            "ratio_istr_plain_over_maskrcnn": statistics.median(
                x / y for x, y in zip(before, b, strict=True)
            ),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
