"""`istr segment` with 1 process vs N processes under torchrun, on the same folder: images/s.

Each configuration is the real command in a subprocess, timed wall-clock from start to exit (model
load, rendezvous and the merge included, as a user would time it), rounds interleaved (this
machine's noise is larger than the effect). One process runs with torch's default threads and with
1 thread (as each torchrun process does), to tell splitting apart from threading. The outputs are
checked to be the same file. Uses the embedded default model unless --weights is given. Prints one
JSON line.

    python benchmarks/segment_distributed.py [--images 40] [--size 480x640] [--nproc 2] [--rounds 2]

On a GPU node (one process per GPU): add --device cuda (each rank then uses cuda:LOCAL_RANK).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from istr_core.train.synthetic import make_scene

ROOT = Path(__file__).resolve().parents[1]


def write_folder(folder: Path, n: int, h: int, w: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        image = make_scene(rng, h, w, max_objects=10)[0]
        cv2.imwrite(str(folder / f"img_{i:04d}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def timed(cmd: list[str], threads: int | None) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OMP_NUM_THREADS", None)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--size", default="480x640")
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "imgs"
        folder.mkdir()
        write_folder(folder, args.images, h, w)

        def segment(out: str) -> list[str]:
            weights = ["--weights", args.weights] if args.weights else []
            return [
                "segment",
                str(folder),
                "--out",
                str(Path(tmp) / out),
                "--score-threshold",
                str(args.threshold),
                "--device",
                args.device,
                *weights,
            ]

        single = [sys.executable, "-m", "istr_core.cli", *segment("one.json")]
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        multi = [*launcher, "--nproc_per_node", str(args.nproc), "-m", "istr_core.cli", *segment("many.json")]
        ones, ones_1t, manys = [], [], []
        for _ in range(args.rounds):
            ones.append(timed(single, None))  # torch's default threads: every core
            ones_1t.append(timed(single, 1))  # as each torchrun process: isolates the threading effect
            manys.append(timed(multi, 1))  # torchrun's default: 1 thread per process
        same = json.loads((Path(tmp) / "one.json").read_text()) == json.loads(
            (Path(tmp) / "many.json").read_text()
        )
    one, one_1t, many = statistics.median(ones), statistics.median(ones_1t), statistics.median(manys)
    print(
        json.dumps(
            {
                "benchmark": "segment_distributed",
                "images": args.images,
                "size": args.size,
                "device": args.device,
                "cpus": os.cpu_count(),
                "load_avg_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                "date": time.strftime("%Y-%m-%d %H:%M"),
                "one_process_img_s": round(args.images / one, 3),
                "one_process_1_thread_img_s": round(args.images / one_1t, 3),
                f"{args.nproc}_processes_img_s": round(args.images / many, 3),
                "one_process_s_per_round": [round(t, 1) for t in ones],
                "one_process_1_thread_s_per_round": [round(t, 1) for t in ones_1t],
                f"{args.nproc}_processes_s_per_round": [round(t, 1) for t in manys],
                "same_output": same,
            }
        )
    )


if __name__ == "__main__":
    main()
