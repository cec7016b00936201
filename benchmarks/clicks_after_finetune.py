"""Clicks per object after the model has learned the first k images of a dataset (issue 31, point 3).

For each k: the embedded model is fine-tuned (``istr_core.train.finetune``, the same code as
``istr finetune``) on the first k images of ``annotations`` in file order, ``--steps-per-image`` x k
steps (k = 0: the embedded model as it ships), then ``benchmarks/clicks.py``'s protocol runs on held-out
objects (``--eval`` or, without it, the images of ``annotations`` after the first ``max(k)``) with
the model-backed click tool and with the weight-free one. Prints one JSON line per (k, method):

    {"k": 5, "steps": 50, "method": "model"|"no-model", "noc85": .., "missed85": .., ...}

    python benchmarks/clicks_after_finetune.py ../shared/data/nuclei/train.json \
        --images ../shared/data/nuclei/images --eval ../shared/data/nuclei/val.json --ks 0,5,15,30

``--one-class`` trains on every category merged into the embedded model's single "object" class (a
click tool needs objectness, not names); without it the file's own classes are learned, as
``istr finetune`` and istr-app's online loop do.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from clicks import run as run_clicks  # noqa: E402

from istr_core.data.shipped import DEFAULT_MODEL  # noqa: E402
from istr_core.train.finetune import finetune  # noqa: E402
from istr_core.train.precision import cpu_report  # noqa: E402


def first_images(coco: dict, k: int, skip: int = 0, one_class: bool = False) -> dict:
    """The COCO dict of images ``skip`` .. ``skip + k`` (file order) and their annotations."""
    images = coco["images"][skip : skip + k]
    ids = {im["id"] for im in images}
    anns = [dict(a) for a in coco["annotations"] if a["image_id"] in ids]
    cats = coco["categories"]
    if one_class:
        cats = [{"id": 1, "name": "object"}]
        for a in anns:
            a["category_id"] = 1
    return {**coco, "images": images, "annotations": anns, "categories": cats}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("annotations")
    p.add_argument("--images", required=True)
    p.add_argument("--eval", default=None, help="COCO file of held-out objects (default: the rest)")
    p.add_argument("--eval-images", default=None, help="images folder for --eval (default: --images)")
    p.add_argument("--ks", default="0,5,15,30")
    p.add_argument("--steps-per-image", type=int, default=10)
    p.add_argument("--max-objects", type=int, default=200)
    p.add_argument("--one-class", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--keep", default=None, help="folder to keep the fine-tuned checkpoints in")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    ks = [int(k) for k in a.ks.split(",")]
    coco = json.loads(Path(a.annotations).read_text())
    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="clicks_k_"))
    work.mkdir(parents=True, exist_ok=True)
    if a.eval:
        eval_json, eval_images = a.eval, a.eval_images or a.images
    else:
        rest = first_images(coco, len(coco["images"]), skip=max(ks))
        eval_json, eval_images = work / "heldout.json", a.images
        Path(eval_json).write_text(json.dumps(rest))
    report = cpu_report()
    for k in ks:
        weights, steps, seconds = str(DEFAULT_MODEL), 0, 0.0
        if k:
            subset = work / f"first{k}.json"
            subset.write_text(json.dumps(first_images(coco, k, one_class=a.one_class)))
            steps = a.steps_per_image * k
            t0 = time.perf_counter()
            weights = str(work / f"first{k}.pt")
            finetune(subset, a.images, weights, iterations=steps, device="cpu", log=lambda s: None)
            seconds = time.perf_counter() - t0
        methods = ["model", "no-model"] if k == ks[0] else ["model"]  # the weight-free path does not learn
        for row in run_clicks(eval_json, eval_images, weights, a.max_objects, methods):
            row.update(k=k, steps=steps, train_s=round(seconds), one_class=a.one_class, isa=report["isa"])
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
