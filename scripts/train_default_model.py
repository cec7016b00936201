"""Train the embedded default model (resources/default_model.pt) on procedural scenes only.

Everything it learns from is generated here (istr_core.data.synthetic), so the project may ship it.
One generic class, "object": the default model is a class-agnostic pre-labeller that users fine-tune
into their own categories (new classes start from its "object" row; see istr_core/finetune.py).

    python scripts/train_default_model.py --minutes 25 [--images 600] [--device cuda] [--init OLD.pt]

``--init`` continues from an earlier default model under today's recipe (more stages, contrastive
denoising): its weights are grown into the new architecture (istr_core/train/warm_start.py), so the
hours it took on a CPU are kept.

Writes resources/default_model.pt (fp16 weights) and prints one JSON line with the held-out mask AP,
which goes into resources/MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from istr_core.data.shipped import DEFAULT_MODEL
from istr_core.eval.coco_eval import evaluate
from istr_core.formats.coco import load_coco
from istr_core.predict.segmenter import Segmenter
from istr_core.train.checkpoint import load_checkpoint, save_checkpoint
from istr_core.train.recipes import default_train_config, model_config_for, train_on_coco
from istr_core.train.synthetic import write_synthetic_coco
from istr_core.train.warm_start import grown_state


def single_class(path: Path) -> Path:
    data = json.loads(path.read_text())
    for a in data["annotations"]:
        a["category_id"] = 1
    data["categories"] = [{"id": 1, "name": "object"}]
    path.write_text(json.dumps(data))
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=25.0)
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--min-size", type=int, default=384, help="test-time shorter side; training jitters around it"
    )
    ap.add_argument("--max-objects", type=int, default=8)
    ap.add_argument("--seed", type=int, default=100, help="seed of the training scenes (new data: new seed)")
    ap.add_argument("--init", type=Path, help="an earlier default model to continue from")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "istr_default_model")
    ap.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    args = ap.parse_args()
    train_dir, val_dir = args.work / "train", args.work / "val"
    train = single_class(
        write_synthetic_coco(train_dir, args.images, 384, 512, seed=args.seed, max_objects=args.max_objects)
    )
    val = single_class(write_synthetic_coco(val_dir, 60, 384, 512, seed=200, max_objects=args.max_objects))
    coco = load_coco(train, train_dir)
    s = args.min_size
    mc = model_config_for(
        coco,
        "cpu-small",
        min_size=s,
        max_size=s * 5 // 3,
        train_min_sizes=(s - 64, s - 32, s, s + 32, s + 64),
    )
    tc = dataclasses.replace(
        default_train_config("cpu-small"), iterations=10**9, time_budget_s=args.minutes * 60
    )
    init_state = None
    if args.init is not None:
        init_state = grown_state(load_checkpoint(args.init), mc)
    full = args.work / "full.pt"
    start = time.monotonic()

    def progress(p):
        if p.done % 50 == 0:
            print(f"it {p.done} loss {p.losses['loss']:.3f} {p.elapsed_s / 60:.1f} min", flush=True)

    result = train_on_coco(
        train,
        train_dir,
        full,
        model_config=mc,
        train_config=tc,
        device=args.device,
        init_state=init_state,
        progress=progress,
        metadata={
            "data": f"{args.images} procedural scenes 512x384 (up to {args.max_objects} objects), "
            f"seed {args.seed}",
            "init": str(args.init) if args.init else None,
        },
    )
    metrics = evaluate(Segmenter.from_checkpoint(full, "cpu"), load_coco(val, val_dir), val_dir)
    ckpt = load_checkpoint(full)
    ckpt.metadata["heldout_synthetic"] = {
        "mask_AP": metrics["segm"]["AP"],
        "mask_AP50": metrics["segm"]["AP50"],
        "box_AP": metrics["bbox"]["AP"],
    }
    save_checkpoint(args.out, ckpt, half=True)
    print(
        json.dumps(
            {
                "iterations": result.iterations,
                "minutes": (time.monotonic() - start) / 60,
                "heldout_synthetic": ckpt.metadata["heldout_synthetic"],
                "size_mb": args.out.stat().st_size / 1e6,
            }
        )
    )


if __name__ == "__main__":
    main()
