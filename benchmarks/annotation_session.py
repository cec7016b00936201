"""Simulated annotation session: annotator seconds per object clicking every object, with a frozen
model, batch fine-tunes and online learning, each optionally gated by its measured price (issues
"Annotator seconds per object", 27).

    python benchmarks/annotation_session.py ../shared/data/droplets/train.json \
        --images ../shared/data/droplets/images --first 30 --train-seconds-per-image 60 \
        --val ../shared/data/droplets/val.json --plot bench_out/session.png

    python benchmarks/annotation_session.py --synthetic 30 ...   # multi-class procedural scenes
    python benchmarks/annotation_session.py ... --mode clicks --mode online --mode online+gate

Prints the cost model, then one JSON line per mode (seconds per object over the session and per
image, accepted share, final val mask AP, wall time) and writes a PNG plot (needs matplotlib: the
``bench`` extra). ``--train-seconds-per-image`` is turned into optimiser steps once, by timing a few
steps' CPU time per thread on this machine (the wall time they take on an idle one); pass
``--steps-per-image`` to reproduce a run exactly on any machine. Bad input: one line, exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from istr_core.data.images import ImageReadError
from istr_core.data.shipped import DEFAULT_MODEL
from istr_core.eval.annotation_cost import CostModel
from istr_core.eval.click_tool import InteractiveClickTool
from istr_core.eval.gate import PrelabelGate
from istr_core.eval.session import GATED_MODES, MODES, ORDERS, load_truths, run_session
from istr_core.formats.coco import load_coco
from istr_core.formats.dataset import AnnotationError
from istr_core.train.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from istr_core.train.online import Example, OnlineConfig, OnlineTrainer
from istr_core.train.precision import cpu_report


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("annotations", type=Path, nargs="?", help="COCO JSON with the true masks")
    ap.add_argument("--images", type=Path, help="images folder (default: the JSON's folder)")
    ap.add_argument("--first", type=int, default=30, help="images of the session, in file order")
    ap.add_argument("--train-seconds-per-image", type=float, default=60.0)
    ap.add_argument(
        "--steps-per-image", type=int, help="training steps per reviewed image (overrides seconds)"
    )
    ap.add_argument(
        "--mode",
        action="append",
        choices=MODES + tuple(f"{m}+gate" for m in GATED_MODES),
        help="repeatable; default: clicks, fixed, batch, online. MODE+gate: pre-labels chosen by the gate",
    )
    ap.add_argument(
        "--gate-window", type=int, default=3, help="reviewed images the gate prices its choice on"
    )
    ap.add_argument(
        "--gate-default",
        default="none",
        help="gated modes: the threshold before any image is priced, or 'none' (istr-app's choice with "
        'the default model; benchmarks/README "Nothing shown before the first price")',
    )
    ap.add_argument(
        "--gate-model-clicks",
        action="store_true",
        help="the gate keeps the click tool on the model's path (default: it picks the cheaper path)",
    )
    ap.add_argument(
        "--no-clicks", action="store_true", help="price fixes as polygons only (skip the click-tool pricing)"
    )
    ap.add_argument(
        "--no-scissors",
        action="store_true",
        help="price by clicks alone (default: the fewer of clicks and edge-snapping polygon anchors)",
    )
    ap.add_argument("--order", choices=ORDERS, default="file", help="next image: file order or least sure")
    ap.add_argument("--weights", type=Path, default=DEFAULT_MODEL, help="starting model")
    ap.add_argument(
        "--score-threshold", type=float, default=0.3, help="chosen once for the session (istr-app default)"
    )
    ap.add_argument(
        "--also-threshold",
        type=float,
        action="append",
        default=[],
        help="repeatable: also price the same session (polygons) at this score threshold",
    )
    ap.add_argument("--val", type=Path, help="COCO JSON to score each mode's final model on")
    ap.add_argument("--val-images", type=Path, help="default: --images")
    ap.add_argument("--plot", type=Path, default=Path("bench_out/annotation_session.png"))
    ap.add_argument("--synthetic", type=int, default=0, help="use N procedural multi-class scenes instead")
    ap.add_argument("--online-option", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument(
        "--snap-edges",
        action="store_true",
        help="the gate also prices the outlines snapped to the image's edges and may show them",
    )
    ap.add_argument(
        "--exemplars",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the gate also prices objects found from the reviewed images of the same size "
        "(istr_core.interactive.exemplars) and may show them instead of the model's pre-labels "
        "(istr-app's default; --no-exemplars: the model's pre-labels only)",
    )
    ap.add_argument(
        "--seeded",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the gate also prices 'click the first 3 objects, then find the rest like them' on each "
        "image and may choose it (istr-app's default; --no-seeded: not)",
    )
    ap.add_argument(
        "--steps-follow-size",
        action="store_true",
        help="online: fewer steps per image once the model has grown its proposals, as many as cost "
        "what the steps per image cost at its first size (a loop that trains against the clock)",
    )
    ap.add_argument(
        "--prices-out",
        type=Path,
        help="gated modes: write what every image would have cost at every option (JSON lines), to "
        "replay other gating rules on the same session",
    )
    return ap.parse_args(argv)


def calibrate_steps(base, truths, class_names, config: OnlineConfig, seconds: float) -> tuple[int, float]:
    """Optimiser steps that fit in ``seconds`` of CPU time per thread, timed on the first image."""
    trainer = OnlineTrainer(load_checkpoint(base), class_names, config)
    t = truths[0]
    trainer.add_example(t.key, t.image, t.masks, t.labels)
    trainer.train_for(steps=1)  # warm-up: first-call allocations and kernel selection
    start = time.process_time()
    trainer.train_for(steps=3)
    per_step = (time.process_time() - start) / 3 / max(1, torch.get_num_threads())
    return max(1, round(seconds / per_step)), per_step


def step_cost_ratio(faster: Checkpoint, slower: Checkpoint, example: Example, config: OnlineConfig) -> float:
    """CPU seconds of a step of ``faster``'s model / a step of ``slower``'s, each trained on
    ``example`` by a trainer of its own (the session's trainer is not advanced). Steps alternate, one
    of each per round, and the medians are compared, so a change of load on a shared machine falls
    on both; both trainers draw the same crops and scales (same seed, one image)."""
    config = dataclasses.replace(config, grow_proposals=False)  # each keeps the size being timed
    runs = []
    for checkpoint in (faster, slower):
        trainer = OnlineTrainer(checkpoint, checkpoint.class_names, config)
        trainer.add_example(example.key, example.image, example.masks, example.labels)
        trainer.train_for(steps=1)  # warm-up: first-call allocations and kernel selection
        runs.append((trainer, []))
    for _ in range(5):
        for trainer, times in runs:
            start = time.process_time()
            trainer.train_for(steps=1)
            times.append(time.process_time() - start)
    (_, fast), (_, slow) = runs
    return statistics.median(fast) / statistics.median(slow)


class StepsFollowingSize:
    """The online trainer's steps after each image when it trains against the clock, as istr-app's
    does: ``steps`` while the model has the proposals of the session's first image, and fewer once it
    has grown them for a crowded image (each step then costs more): ``steps`` x (a step of the first
    model / a step of the grown one), timed side by side on the newest image when the proposal count
    changes."""

    def __init__(self, config: OnlineConfig, steps: int):
        self.config, self.steps = config, steps
        self.first: Checkpoint | None = None  # the model after the first image, before training
        self.factor: dict[int, float] = {}  # proposals -> steps factor

    def __call__(self, trainer: OnlineTrainer) -> int:
        proposals = trainer.model_config.head.num_proposals
        if self.first is None:
            self.first = trainer.checkpoint(with_train_state=False)
            self.factor[proposals] = 1.0
        if proposals not in self.factor:
            current = trainer.checkpoint(with_train_state=False)
            self.factor[proposals] = step_cost_ratio(self.first, current, trainer.examples[-1], self.config)
            start = self.first.model_config.head.num_proposals
            print(
                f"  {proposals} proposals: {self.factor[proposals]:.2f} x the steps of {start}",
                file=sys.stderr,
                flush=True,
            )
        return max(1, round(self.steps * self.factor[proposals]))


def val_metrics(final, class_names: list[str], val: Path, val_images: Path) -> dict:
    """Mask AP of a session's final model on ``val``; a one-class model (the default model's 'object')
    answers for a one-class file's class."""
    import dataclasses

    from istr_core.eval.coco_eval import evaluate
    from istr_core.predict.segmenter import Segmenter

    if final.class_names != class_names and len(final.class_names) == 1 == len(class_names):
        final = dataclasses.replace(final, class_names=list(class_names))
    try:
        m = evaluate(Segmenter(final, "cpu"), load_coco(val, val_images), val_images)
    except ValueError as e:  # no class in common: nothing to score
        return {"val_mask_AP": None, "val_note": str(e)}
    return {"val_mask_AP": round(m["segm"]["AP"], 3), "val_mask_AP50": round(m["segm"]["AP50"], 3)}


def against_clicks(result, clicks, run: int = 5) -> dict:
    """A session's seconds as a share of the clicks mode's on the same images (``SessionResult``s),
    with each pricing: over the session and over the worst ``run`` consecutive images."""
    out = {}
    for prefix, ours, base in (
        ("", result.reviews, clicks.reviews),
        ("clicks_", result.click_reviews, clicks.click_reviews),
    ):
        if not ours or len(ours) != len(base):
            continue
        a, b = [r.seconds for r in ours], [r.seconds for r in base]
        out[f"{prefix}vs_clicks"] = round(sum(a) / max(sum(b), 1e-9), 3)
        spans = [(k, k + run) for k in range(max(1, len(a) - run + 1))]
        out[f"{prefix}vs_clicks_worst_{run}_images"] = round(
            max(sum(a[i:j]) / max(sum(b[i:j]), 1e-9) for i, j in spans), 3
        )
    return out


def write_prices(path: Path, mode: str, priced) -> None:
    """One JSON line per image: its seconds at every option (thresholds as strings, "none" for no
    pre-labels) with the click tool's model path and, where priced, its weight-free path, and the
    same with the pre-labels' outlines snapped to the image's edges ("snapped": per path), and shown the
    objects found from the reviewed images ("exemplars": per path) or like its first ones ("seeded")."""

    def options(seconds):
        return None if seconds is None else {"none" if t is None else str(t): s for t, s in seconds.items()}

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        for p in priced:
            line = {"mode": mode, "key": p.key, "objects": p.objects, "model": options(p.seconds)}
            line["weight_free"] = options(p.weight_free)
            if p.snapped is not None:
                line["snapped"] = {path: options(seconds) for path, seconds in p.snapped.items()}
            if p.exemplars is not None:
                line["exemplars"] = {path: options(seconds) for path, seconds in p.exemplars.items()}
            if p.seeded is not None:
                line["seeded"] = {path: options(seconds) for path, seconds in p.seeded.items()}
            f.write(json.dumps(line) + "\n")


def synthetic_files(folder: Path, n: int) -> tuple[Path, Path, Path]:
    from istr_core.train.synthetic import write_synthetic_coco

    train = write_synthetic_coco(folder / "train", n, 256, 256, seed=11, json_name="train.json")
    val = write_synthetic_coco(folder / "val", 20, 256, 256, seed=12, json_name="val.json")
    return train, folder / "train", val


def plot(results: dict, path: Path, title: str) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]'): no plot"
    fig, axes = plt.subplots(
        1,
        2 if any("clicks_seconds_per_object" in r for r in results.values()) else 1,
        figsize=(11, 4),
        squeeze=False,
    )
    for ax, prefix, label in zip(
        axes[0], ("", "clicks_"), ("fixes drawn as 79 s polygons", "fixes priced by clicks"), strict=False
    ):
        for mode, r in results.items():
            ys = r[f"{prefix}seconds_per_object_per_image"]
            ax.plot(
                range(1, len(ys) + 1),
                ys,
                marker="o",
                ms=3,
                label=f"{mode} ({r[f'{prefix}seconds_per_object']} s/obj)",
            )
        ax.set(xlabel="image (file order)", ylabel="annotator seconds per object", title=label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return f"plot written to {path}"


def main(argv=None) -> int:
    args = parse_args(argv)
    tmp = tempfile.TemporaryDirectory()
    if args.synthetic:
        args.annotations, args.images, args.val = synthetic_files(Path(tmp.name), args.synthetic)
        args.val_images = args.val.parent
    if args.annotations is None:
        raise AnnotationError("give a COCO JSON (or --synthetic N)")
    images = args.images or args.annotations.parent
    coco = load_coco(args.annotations, images)
    if not coco.categories:
        raise AnnotationError(f"{args.annotations}: the file has no categories")
    truths = load_truths(coco, images, args.first)
    if not truths:
        raise AnnotationError(f"{args.annotations}: no images to annotate")
    options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.online_option)}
    config = OnlineConfig(**options)
    if args.steps_per_image:
        steps, per_step = args.steps_per_image, None
    else:
        steps, per_step = calibrate_steps(
            args.weights, truths, coco.class_names, config, args.train_seconds_per_image
        )
    cost = CostModel()
    print(
        json.dumps(
            {
                "benchmark": "annotation_session",
                "annotations": str(args.annotations),
                "images": len(truths),
                "cost_model_s": {
                    "accept": cost.accept_s,
                    "delete": cost.delete_s,
                    "relabel": cost.relabel_s,
                    "fix_or_missed_polygon": cost.polygon_s,
                    "click": cost.click_s,
                    "max_clicks": cost.max_clicks,
                    "clicks_or_scissors_anchors": not args.no_scissors,
                    "gate_chooses_click_path": not args.gate_model_clicks,
                    "accept_iou": cost.accept_iou,
                    "fix_iou": cost.fix_iou,
                },
                "train_seconds_per_image": None if args.steps_per_image else args.train_seconds_per_image,
                "seconds_per_step": per_step,
                "steps_per_image": steps,
                "score_threshold": args.score_threshold,
                "online_config": config.to_dict(),
                "threads": torch.get_num_threads(),
                "cpu": cpu_report(),  # the ISA, and whether bf16 autocast ran
                "date": time.strftime("%Y-%m-%d"),
            }
        ),
        flush=True,
    )
    results, sessions = {}, {}
    for name in args.mode or MODES:
        mode, gated = name.removesuffix("+gate"), name.endswith("+gate")
        r = run_session(
            mode,
            args.weights,
            args.annotations,
            images,
            truths,
            steps,
            args.score_threshold,
            config,
            cost=cost,
            click_tool=None
            if args.no_clicks
            else InteractiveClickTool(cost.accept_iou, cost.max_clicks, scissors=not args.no_scissors),
            log=lambda m: print(m, file=sys.stderr, flush=True),
            order=args.order,
            other_thresholds=tuple(args.also_threshold),
            gate=PrelabelGate(
                args.gate_window,
                None if args.gate_default == "none" else float(args.gate_default),
                choose_click_path=not args.gate_model_clicks,
                snap_edges=args.snap_edges,
                exemplars=args.exemplars,
                seeded=args.seeded,
            )
            if gated
            else None,
            online_steps=StepsFollowingSize(config, steps) if args.steps_follow_size else None,
        )
        summary = {**r.summary(), "order": args.order}
        if args.order != "file":
            summary["reviewed_order"] = r.order
        if args.val and r.final is not None:
            summary.update(val_metrics(r.final, coco.class_names, args.val, args.val_images or images))
        if "clicks" in sessions:
            summary.update(against_clicks(r, sessions["clicks"]))
        results[name], sessions[name] = summary, r
        if args.prices_out and r.priced:
            write_prices(args.prices_out, name, r.priced)
        print(json.dumps(summary), flush=True)
    print(
        plot(results, args.plot, f"{args.annotations.name}: {len(truths)} images, {steps} steps per image"),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (AnnotationError, CheckpointError, ImageReadError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
