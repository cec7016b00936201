"""Add the exemplar and seeded pre-labels' prices to a priced session, so gate_replay.py replays the
gate that may show them, on the same images, models and clicks (the gate never changes what the model
learns).

    python benchmarks/exemplar_prices.py prices.jsonl ../shared/data/droplets/train.json \
        --images ../shared/data/droplets/images --out prices+exemplars.jsonl
    python benchmarks/gate_replay.py prices+exemplars.jsonl --images ../shared/data/droplets/images

Each image's exemplar pre-labels are found as the session finds them
(``istr_core.eval.gate.exemplars_to_price``: from the last reviewed images of its size, or its own
objects when none precedes it) and priced with the click tool's weight-free path (the model's path
needs the session's model of that moment, which the file does not hold), as
``"exemplars": {"weight-free": ...}`` (kept when the file has them already); and "click the first 3
objects, then find the rest like them" (``istr_core.eval.gate.seeded_to_price``) the same way, as
``"seeded"`` (``--no-seeded``: not). ``--synthetic N`` rebuilds annotation_session.py's
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
from istr_core.eval.gate import (
    SEEDED,
    THRESHOLDS,
    WEIGHT_FREE,
    exemplars_to_price,
    memoised_clicks,
    price_outlines,
    price_thresholds,
    seeded_to_price,
)
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
    ap.add_argument(
        "--no-seeded", action="store_true", help="do not price 'click the first 3, then find the rest'"
    )
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
            counter = memoised_clicks(tool.for_image(None, truth.image))
            true_labels = truth.labels.tolist() if classes else None
            true = [m.astype(bool) for m in truth.masks]
            line = {"key": row["key"], "objects": row["objects"]}
            if "exemplars" not in row:  # kept when the file has them (a file priced before)
                found = exemplars_to_price(truth.image, before, (truth.masks, truth.labels))
                reviews = price_thresholds(
                    [p.mask for p in found],
                    [p.score for p in found],
                    true,
                    cost,
                    counter,
                    _labels(found, classes),
                    true_labels,
                    THRESHOLDS,
                )
                row["exemplars"] = {WEIGHT_FREE: _seconds(reviews, row)}
                line["found"] = len(found)
            before.append((truth.image, truth.masks, truth.labels))
            if not args.no_seeded:
                found = seeded_to_price(truth.image, (truth.masks, truth.labels))
                tables = price_outlines(
                    {},
                    [],
                    true,
                    cost,
                    {WEIGHT_FREE: counter},
                    _labels([], classes),
                    true_labels,
                    THRESHOLDS,
                    seeded=found,
                )
                row["seeded"] = {WEIGHT_FREE: _seconds(tables[(WEIGHT_FREE, SEEDED)], row)}
                line["seeded_found"] = len(found)
            out.write(json.dumps(row) + "\n")
            out.flush()
            for name in ("exemplars", "seeded"):
                if name in row:
                    seconds = row[name][WEIGHT_FREE]
                    best = min(seconds, key=seconds.get)
                    line[name] = {"none": seconds["none"], "best": best, "best_s": seconds[best]}
            print(json.dumps({**line, "s": round(time.monotonic() - started, 1)}), flush=True)
    return 0


def _labels(found, classes: bool) -> list[int] | None:
    return [p.label for p in found] if classes else None


def _seconds(reviews: dict, row: dict) -> dict[str, float]:
    """Seconds per option as the prices file writes them; warns when clicking is priced otherwise
    than in the session (a different click tool)."""
    seconds = {"none" if t is None else str(t): r.seconds for t, r in reviews.items()}
    if abs(seconds["none"] - row["weight_free"]["none"]) > 1e-6:
        print(
            f"{row['key']}: clicking priced {seconds['none']} here, "
            f"{row['weight_free']['none']} in the session",
            file=sys.stderr,
        )
    return seconds


if __name__ == "__main__":
    sys.exit(main())
