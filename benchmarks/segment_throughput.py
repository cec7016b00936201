"""`istr segment` end-to-end throughput vs the model's own forward-only throughput on the same folder.

Pipeline overhead = 1 - (end-to-end images/s) / (forward-only images/s): what decoding, RLE encoding
and JSON writing cost once they overlap inference. Forward-only runs on images decoded beforehand.
Uses the embedded default model unless --weights is given. Prints one JSON line.

    python benchmarks/segment_throughput.py [--images 40] [--size 480x640] [--weights CKPT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from istr_core.data.images import list_images, read_image
from istr_core.predict.folder import _encode, segment_folder
from istr_core.predict.segmenter import Segmenter
from istr_core.train.precision import cpu_report
from istr_core.train.synthetic import make_scene


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
    ap.add_argument("--rounds", type=int, default=3, help="forward-only / end-to-end pairs, interleaved")
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    segmenter = Segmenter.from_checkpoint(args.weights, "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "imgs"
        folder.mkdir()
        write_folder(folder, args.images, h, w)
        start = time.perf_counter()
        images = [read_image(p) for p in list_images(folder)]
        decode = time.perf_counter() - start
        segmenter.predict(images[0], args.threshold)  # warm-up
        forwards, ends = [], []
        for _ in range(args.rounds):  # A/B/A/B: this machine's noise is larger than the effect
            start = time.perf_counter()
            predictions = [segmenter.predict(im, args.threshold) for im in images]
            forwards.append(time.perf_counter() - start)
            start = time.perf_counter()
            summary = segment_folder(
                folder, Path(tmp) / "out.json", segmenter, args.threshold, warn=lambda m: None
            )
            ends.append(time.perf_counter() - start)
        start = time.perf_counter()
        for im, p in zip(images, predictions, strict=True):
            _encode(im.shape, p, list(range(len(segmenter.class_names))))
        encode = time.perf_counter() - start
    overheads = [1 - f / e for f, e in zip(forwards, ends, strict=True)]
    forward, end_to_end = statistics.median(forwards), statistics.median(ends)
    print(
        json.dumps(
            {
                "benchmark": "segment_throughput",
                "images": args.images,
                "size": args.size,
                "threads": torch.get_num_threads(),
                "cpu": cpu_report(),  # the ISA, and whether bf16 autocast ran
                "date": time.strftime("%Y-%m-%d"),
                "forward_only_img_s": round(args.images / forward, 3),
                "end_to_end_img_s": round(args.images / end_to_end, 3),
                "instances": summary.instances,
                # the CPU work the pipeline adds, measured alone: on a machine whose cores the
                # model already fills, overlap cannot hide it
                "decode_ms_per_image": round(1000 * decode / args.images, 1),
                "encode_ms_per_image": round(1000 * encode / args.images, 1),
                "forward_ms_per_image": round(1000 * forward / args.images, 1),
                "overhead_per_round": [round(o, 3) for o in overheads],
                "pipeline_overhead": round(statistics.median(overheads), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
