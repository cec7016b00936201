"""Peak memory of ``istr segment`` on a folder of many small images (issue 6, load).

Writes N constant-noise 64x64 PNGs and a checkpoint (the shipped default model when present,
otherwise an untrained tiny model), runs ``python -m istr_core.cli segment`` as a subprocess and
samples its VmRSS from /proc every 50 ms. Prints one JSON line: RSS after start-up (first
progress), peak RSS, RSS at the end, time and images. Linux only.

    python benchmarks/segment_memory.py --images 2000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def make_folder(folder: Path, count: int, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        cv2.imwrite(str(folder / f"img_{i:05d}.png"), rng.integers(0, 255, (size, size, 3), dtype=np.uint8))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_folder(tmp / "imgs", args.images, args.size)
        weights = args.weights
        if weights is None:
            from tests.conftest import make_tiny_checkpoint

            weights = make_tiny_checkpoint(tmp / "tiny.pt")
        out = tmp / "out.json"
        cmd = [
            sys.executable,
            "-m",
            "istr_core.cli",
            "segment",
            str(tmp / "imgs"),
            "--out",
            str(out),
            "--weights",
            str(weights),
            "--device",
            "cpu",
            "--score-threshold",
            "0.3",
            "--batch-size",
            str(args.batch_size),
        ]
        journal = out.with_name(out.name + ".partial.jsonl")
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        samples, first_work = [], None
        while proc.poll() is None:
            rss = rss_mb(proc.pid)
            if rss is not None:
                samples.append(rss)
                if first_work is None and journal.exists() and journal.stat().st_size > 0:
                    first_work = rss  # model loaded, first batch written: the start-up footprint
            time.sleep(0.05)
        stderr = proc.stderr.read().decode(errors="replace")
        if proc.returncode != 0:
            sys.exit(f"segment failed ({proc.returncode}): {stderr[-500:]}")
        images = len(json.loads(out.read_text())["images"])
        print(
            json.dumps(
                {
                    "images": images,
                    "image_size": args.size,
                    "rss_start_mb": round(first_work or 0, 1),
                    "rss_peak_mb": round(max(samples), 1),
                    "rss_end_mb": round(samples[-1], 1),
                    "seconds": round(time.monotonic() - start, 1),
                    "batch_size": args.batch_size,
                    "weights": str(args.weights or "tiny"),
                }
            )
        )


if __name__ == "__main__":
    main()
