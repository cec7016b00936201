"""COCO -> format -> COCO round trips: per-object mask IoU for every format, on droplets and on
procedural scenes (holes, occlusion, touching objects). Prints one JSON line.

    python benchmarks/formats_roundtrip.py [--droplets ../shared/data/droplets] [--scenes 40]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from istr_core import formats
from istr_core.train.synthetic import write_synthetic_coco


def round_trip(src: Path, images: Path, fmt: str, work: Path) -> dict:
    """Objects compared in order; returns IoU stats, counts and how many warnings the save gave."""
    before = formats.load(src)
    out = work / fmt / ("annotations.json" if fmt == "coco" else "")
    warnings = formats.save(before, out, fmt, images_dir=images)
    after = formats.load(out)
    order = {im.file_name: k for k, im in enumerate(before.images)}  # folder formats list by name
    after.images.sort(key=lambda im: order[im.file_name])
    assert [i.file_name for i in after.images] == [i.file_name for i in before.images]
    assert after.class_names == before.class_names
    ious, lost = [], 0
    for a, b in zip(before.images, after.images, strict=True):
        lost += len(a.instances) - len(b.instances)
        for p, q in zip(a.instances, b.instances, strict=False):
            m, n = p.mask(), q.mask()
            ious.append(float((m & n).sum() / max(1, (m | n).sum())) if p.label == q.label else 0.0)
    ious = np.array(ious)
    return {
        "objects": int(len(ious)),
        "lost": int(lost),
        "min_iou": round(float(ious.min()), 4),
        "mean_iou": round(float(ious.mean()), 5),
        "exact": round(float((ious == 1).mean()), 4),
        "below_0.98": int((ious < 0.98).sum()),
        "warnings": len(warnings),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--droplets", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/droplets"
    )
    ap.add_argument("--scenes", type=int, default=40)
    args = ap.parse_args()
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sets = {
            "scenes": (write_synthetic_coco(tmp / "scenes", args.scenes, 256, 320, seed=1), tmp / "scenes")
        }
        if (args.droplets / "train.json").is_file():
            sets["droplets"] = (args.droplets / "train.json", args.droplets / "images")
        for name, (src, images) in sets.items():
            result[name] = {f: round_trip(src, images, f, tmp / f"{name}_out") for f in formats.FORMATS}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
