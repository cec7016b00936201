"""Add the exemplar pre-labels' prices to a priced session, so gate_replay.py replays the gate that
may show them, on the same images, models and clicks (the gate never changes what the model learns).

    python benchmarks/exemplar_prices.py prices.jsonl ../shared/data/droplets/train.json \
        --images ../shared/data/droplets/images --out prices+exemplars.jsonl
    python benchmarks/gate_replay.py prices+exemplars.jsonl --images ../shared/data/droplets/images

Each image's exemplar pre-labels are found as the session finds them
(``istr_core.eval.gate.exemplars_to_price``: from the last reviewed images of its size, or its own
objects when none precedes it) and priced with the click tool's weight-free path (the model's path
needs the session's model of that moment, which the file does not hold), as
``"exemplars": {"weight-free": ...}``. ``--synthetic N`` rebuilds annotation_session.py's
procedural scenes instead of reading a COCO file.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from annotation_session import synthetic_files

from istr_core.eval.annotation_cost import CostModel
from istr_core.eval.click_tool import InteractiveClickTool
from istr_core.eval.gate import THRESHOLDS, WEIGHT_FREE, exemplars_to_price, memoised_clicks, price_thresholds
from istr_core.eval.session import load_truths
from istr_core.formats.coco import load_coco


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prices", type=Path, help="annotation_session.py --prices-out file")
    ap.add_argument("annotations", type=Path, nargs="?", help="the session's COCO file")
    ap.add_argument("--images", type=Path, help="its image folder (default: the file's)")
    ap.add_argument("--synthetic", type=int, help="the session's --synthetic N instead of a COCO file")
    ap.add_argument("--mode", help="the gated mode, when the file holds several")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    tmp = tempfile.TemporaryDirectory()
    if args.synthetic:
        args.annotations, args.images, _ = synthetic_files(Path(tmp.name), args.synthetic)
    rows = [json.loads(line) for line in args.prices.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if args.mode is None or r["mode"] == args.mode]
    images = args.images or args.annotations.parent
    coco = load_coco(args.annotations, images)
    truths = {t.key: t for t in load_truths(coco, images, len(rows))}
    classes = len(coco.class_names) > 1
    cost, tool = CostModel(), InteractiveClickTool(CostModel().accept_iou, CostModel().max_clicks)
    reviewed: dict[tuple[int, int], list] = {}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as out:
        for row in rows:
            started = time.monotonic()
            truth = truths[row["key"]]
            size = truth.image.shape[:2]
            before = reviewed.setdefault(size, [])
            found = exemplars_to_price(truth.image, before, (truth.masks, truth.labels))
            before.append((truth.image, truth.masks, truth.labels))
            counter = memoised_clicks(tool.for_image(None, truth.image))
            labels = [p.label for p in found] if classes else None
            true_labels = truth.labels.tolist() if classes else None
            reviews = price_thresholds(
                [p.mask for p in found],
                [p.score for p in found],
                list(truth.masks),
                cost,
                counter,
                labels,
                true_labels,
                THRESHOLDS,
            )
            seconds = {"none" if t is None else str(t): r.seconds for t, r in reviews.items()}
            if abs(seconds["none"] - row["weight_free"]["none"]) > 1e-6:
                print(
                    f"{row['key']}: clicking priced {seconds['none']} here, {row['weight_free']['none']} "
                    "in the session",
                    file=sys.stderr,
                )
            row["exemplars"] = {WEIGHT_FREE: seconds}
            out.write(json.dumps(row) + "\n")
            out.flush()
            best = min(seconds, key=seconds.get)
            print(
                json.dumps(
                    {
                        "key": row["key"],
                        "objects": row["objects"],
                        "found": len(found),
                        "none": seconds["none"],
                        "best": best,
                        "best_s": seconds[best],
                        "s": round(time.monotonic() - started, 1),
                    }
                ),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
