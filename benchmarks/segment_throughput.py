"""`istr segment` end-to-end throughput vs the model's own forward-only throughput on the same folder.

Pipeline overhead = 1 - (end-to-end images/s) / (forward-only images/s): what decoding, RLE encoding
and JSON writing cost once they overlap inference. Forward-only runs on images decoded beforehand.
Uses the embedded default model unless --weights is given. Prints one JSON line.

    python benchmarks/segment_throughput.py [--images 40] [--size 480x640] [--weights CKPT]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from istr_core.data.images import list_images, read_image
from istr_core.data.synthetic import make_scene
from istr_core.inference import Segmenter
from istr_core.segment import segment_folder


def write_folder(folder: Path, n: int, h: int, w: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        image = make_scene(rng, h, w, max_objects=10)[0]
        cv2.imwrite(str(folder / f"img_{i:04d}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--size", default="480x640")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--threshold", type=float, default=0.5)
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    segmenter = Segmenter.from_checkpoint(args.weights, "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "imgs"
        folder.mkdir()
        write_folder(folder, args.images, h, w)
        images = [read_image(p) for p in list_images(folder)]
        segmenter.predict(images[0], args.threshold)  # warm-up
        start = time.perf_counter()
        for im in images:
            segmenter.predict(im, args.threshold)
        forward = time.perf_counter() - start
        start = time.perf_counter()
        summary = segment_folder(folder, Path(tmp) / "out.json", segmenter, args.threshold, warn=lambda m: None)
        end_to_end = time.perf_counter() - start
    print(json.dumps({"benchmark": "segment_throughput", "images": args.images, "size": args.size,
                      "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d"),
                      "forward_only_img_s": args.images / forward, "end_to_end_img_s": args.images / end_to_end,
                      "instances": summary.instances,
                      "pipeline_overhead": 1 - forward / end_to_end}))


if __name__ == "__main__":
    main()
