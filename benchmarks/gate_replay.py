"""Replay pre-label gating rules on a session priced at every option: what each rule would have cost
the annotator on the same images, the same models and the same clicks, in seconds.

    python benchmarks/annotation_session.py ... --mode online+gate --prices-out prices.jsonl
    python benchmarks/gate_replay.py prices.jsonl --images ../shared/data/droplets/images

The gate's choice never changes what the model learns (it trains on the true masks whatever was
shown), so one gated session, priced at every threshold on both click paths, holds the price of any
rule that decides from the images reviewed before. Each rule picks the reviewed images whose prices
decide the next image (``istr_core.eval.gate.decide`` decides, as in istr-app); rules:

* ``last K``: the last K reviewed images (istr-app's rule with K = 3);
* ``scene K``: the last K reviewed images of the next image's size (a new size is a new scene: a
  camera, a microscope, a video), or with none of that size, nothing shown;
* ``similar K``: the K reviewed images most like the next one (image size, and the mean and spread
  of its grey levels), closest first;
* ``change K``: the gate itself (``istr_core.eval.gate.PrelabelGate``, window K, as istr-app and the
  session run it): ``last K``, but an image of a new size after K images of one size is decided by
  the images of its own size (none: nothing shown); in a folder of mixed sizes, ``last K``.

Before any image is priced a rule shows the default threshold (``--default``; "none" hides) with the
weight-free click path; later, a rule that finds no reviewed image to decide from hides. Prints one
JSON line per rule: seconds per object and against clicking every object (the weight-free path with
nothing shown, the ``clicks`` mode of the session); and last, ``hindsight``: every image at its own
cheapest option, the bound for any rule; with ``--ungated T``, the session with no gate (every image
shown at T, clicked on the model's path).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from istr_core.data.images import read_image
from istr_core.eval.gate import (
    EXEMPLARS,
    MODEL,
    THRESHOLDS,
    WEIGHT_FREE,
    PrelabelGate,
    PricedImage,
    decide,
)

Rule = Callable[[int, list[PricedImage], list[np.ndarray]], list[PricedImage]]


def load_prices(
    path: Path, mode: str | None, snapped: bool = True, exemplars: bool = True, seeded: bool = True
) -> list[PricedImage]:
    """The priced images of ``mode``; ``snapped`` False drops the snapped outlines' prices (the gate
    as it was before it could snap), ``exemplars`` False the exemplar pre-labels' prices, ``seeded``
    False those of "click the first 3, then find the rest like them"."""

    def options(d):
        return None if d is None else {None if k == "none" else float(k): v for k, v in d.items()}

    def tables(r, name, wanted):
        if not wanted or r.get(name) is None:
            return None
        return {p: options(d) for p, d in r[name].items()}

    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    modes = sorted({r["mode"] for r in rows})
    if mode is None and len(modes) > 1:
        raise ValueError(f"{path} holds modes {modes}: pick one with --mode")
    return [
        PricedImage(
            r["key"],
            r["objects"],
            options(r["model"]),
            options(r["weight_free"]),
            snapped=tables(r, "snapped", snapped),
            exemplars=tables(r, "exemplars", exemplars),
            seeded=tables(r, "seeded", seeded),
        )
        for r in rows
        if mode is None or r["mode"] == mode
    ]


def describe(image: np.ndarray) -> np.ndarray:
    """What ``similar`` compares: height, width, grey mean and spread (each on its own scale)."""
    grey = image.mean(2) if image.ndim == 3 else image.astype(float)
    return np.array([image.shape[0], image.shape[1], grey.mean(), grey.std()], float)


def last(k: int) -> Rule:
    return lambda i, priced, looks: priced[max(0, i - k) : i]


def scene(k: int) -> Rule:
    def window(i, priced, looks):
        same = [j for j in range(i) if looks[j][:2].tolist() == looks[i][:2].tolist()]
        return [priced[j] for j in same[-k:]]

    return window


def size(k: int) -> Rule:
    """The last K reviewed images of the next image's size, or with none of it, the last K."""

    def window(i, priced, looks):
        same = scene(k)(i, priced, looks)
        return same or last(k)(i, priced, looks)

    return window


def similar(k: int) -> Rule:
    def window(i, priced, looks):
        if not i:
            return []
        seen = np.stack(looks[:i])
        scale = np.maximum(np.abs(seen).max(0), 1e-6)
        distance = np.abs((seen - looks[i]) / scale).sum(1)
        return [priced[j] for j in np.argsort(distance, kind="stable")[:k]]

    return window


RULES = {"last": last, "scene": scene, "size": size, "similar": similar}


def replay(priced: list[PricedImage], looks: list[np.ndarray], rule: Rule, default: float | None) -> dict:
    thresholds = tuple(sorted({*THRESHOLDS, *([] if default is None else [default])}))
    priced = with_sizes(priced, looks)

    def decision(i: int) -> tuple[float | None, tuple[str, bool]]:
        window = rule(i, priced, looks)
        if window:
            d = decide(window, thresholds)
            return d.threshold, (d.click_path, d.outlines)
        # nothing priced yet: the default; later, a rule that finds no image like this one hides
        return default if i == 0 else None, (WEIGHT_FREE, False)

    return _priced_by(priced, decision)


def replay_gate(priced: list[PricedImage], looks: list[np.ndarray], k: int, default: float | None) -> dict:
    """``change K``: istr-app's and the session's own gate (``PrelabelGate``, window K), focused on
    each image's size before it decides and given each image's prices after, as they drive it."""
    gate = PrelabelGate(
        window=k,
        default=default,
        snap_edges=any(p.snapped for p in priced),
        exemplars=any(p.exemplars for p in priced),
        seeded=any(p.seeded for p in priced),
    )
    priced = with_sizes(priced, looks)

    def decision(i: int) -> tuple[float | None, tuple[str, bool]]:
        if i:
            gate.add(priced[i - 1])
        d = gate.focus(priced[i].size)
        return d.threshold, (d.click_path, d.outlines)

    return _priced_by(priced, decision)


def with_sizes(priced: list[PricedImage], looks: list[np.ndarray]) -> list[PricedImage]:
    return [
        dataclasses.replace(p, size=(int(look[0]), int(look[1])))
        for p, look in zip(priced, looks, strict=True)
    ]


def shown_tables(priced: list[PricedImage], i: int) -> dict:
    """Image i's tables of what it could have been shown: no exemplar pre-labels when no image of
    its size was reviewed before it (there is nothing to find objects like; its exemplar prices are
    its own objects', for the gate to learn from)."""
    tables = priced[i].tables()
    if any(p.size == priced[i].size for p in priced[:i]):
        return tables
    return {key: prices for key, prices in tables.items() if key[1] != EXEMPLARS}


def _priced_by(priced: list[PricedImage], decision: Callable[[int], tuple]) -> dict:
    """The session's price when image i is shown ``decision(i)``: (threshold or None, (path, outlines));
    exemplars where there are none to show: nothing shown."""
    seconds, shown, per_image = 0.0, [], []
    for i, image in enumerate(priced):
        option, key = decision(i)
        tables = shown_tables(priced, i)
        if key not in tables and key[1] == EXEMPLARS:
            option, key = None, (key[0], False)
        prices = tables.get(key) or tables[(MODEL, key[1])]
        seconds += prices[option]
        named = option if key[1] in (False, True) else f"{key[1]} {option}"  # the model's, or what else
        shown.append("none" if option is None else named)
        per_image.append(round(prices[option] / max(image.objects, 1), 3))
    return {**summary(priced, seconds), "shown": shown, "seconds_per_object_per_image": per_image}


def clicking(image: PricedImage) -> float:
    """Seconds to click every object of ``image`` from nothing (the session's ``clicks`` mode)."""
    return (image.weight_free or image.seconds)[None]


def summary(priced: list[PricedImage], seconds: float) -> dict:
    """``seconds`` spent on the session's images, per object and against clicking every object."""
    clicks = sum(clicking(image) for image in priced)
    objects = max(sum(p.objects for p in priced), 1)
    return {
        "seconds_per_object": round(seconds / objects, 3),
        "clicks_seconds_per_object": round(clicks / objects, 3),
        "vs_clicks": round(seconds / max(clicks, 1e-9), 3),
    }


def ungated(priced: list[PricedImage], threshold: float) -> dict:
    """The session without a gate: every image shown at ``threshold``, clicked on the model's path
    (the ungated mode of annotation_session.py on the same models: the gate never changes them)."""
    return summary(priced, sum(image.seconds[threshold] for image in priced))


def hindsight(priced: list[PricedImage]) -> dict:
    """Each image at its own cheapest option and path: the bound no rule deciding from the images
    reviewed before can beat."""
    cheapest = [min(min(p.values()) for p in shown_tables(priced, i).values()) for i in range(len(priced))]
    return summary(priced, sum(cheapest))


def plot(priced: list[PricedImage], results: dict[str, dict], path: Path, title: str) -> str:
    """Seconds per object per image: clicking every object, and each rule replayed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]'): no plot"
    fig, ax = plt.subplots(figsize=(8, 4))
    xs = range(1, len(priced) + 1)
    clicks = [clicking(p) / max(p.objects, 1) for p in priced]
    ax.plot(xs, clicks, marker="o", ms=3, color="grey", label="clicks: every object, no pre-labels")
    for name, r in results.items():
        label = f"gate, {name} ({r['seconds_per_object']} s/obj, {r['vs_clicks']} x clicks)"
        ax.plot(xs, r["seconds_per_object_per_image"], marker="o", ms=3, label=label)
    ax.set(xlabel="image (file order)", ylabel="annotator seconds per object (clicks pricing)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return f"plot written to {path}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prices", type=Path, help="annotation_session.py --prices-out file")
    ap.add_argument("--images", type=Path, required=True, help="the session's image folder")
    ap.add_argument("--mode", help="the gated mode to replay when the file holds several")
    ap.add_argument(
        "--rule", action="append", help="NAME:K, repeatable (default: last:3 last:1 last:5 scene:3 similar:3)"
    )
    ap.add_argument(
        "--default", default="none", help="threshold before any image is priced, or 'none' (the session's)"
    )
    ap.add_argument(
        "--ungated",
        type=float,
        help="also price the session ungated at this threshold (the model's click path)",
    )
    ap.add_argument(
        "--no-snap",
        action="store_true",
        help="ignore the snapped outlines' prices (the gate before it snapped)",
    )
    ap.add_argument(
        "--no-exemplars",
        action="store_true",
        help="ignore the exemplar pre-labels' prices (the gate before it could show them)",
    )
    ap.add_argument(
        "--no-seeded",
        action="store_true",
        help="ignore the prices of 'click the first 3, then find the rest' (the gate before it could)",
    )
    ap.add_argument("--plot", type=Path, help="PNG: seconds per object per image, clicks and each rule")
    ap.add_argument("--title", default="", help="the plot's title")
    args = ap.parse_args(argv)
    priced = load_prices(
        args.prices,
        args.mode,
        snapped=not args.no_snap,
        exemplars=not args.no_exemplars,
        seeded=not args.no_seeded,
    )
    looks = [describe(read_image(args.images / p.key)) for p in priced]
    priced = with_sizes(priced, looks)
    default = None if args.default == "none" else float(args.default)
    results = {}
    for spec in args.rule or ["last:3", "last:1", "last:5", "scene:3", "similar:3"]:
        name, k = spec.split(":")
        if name == "change":
            results[spec] = replay_gate(priced, looks, int(k), default)
        elif name in RULES:
            results[spec] = replay(priced, looks, RULES[name](int(k)), default)
        else:
            raise ValueError(f"unknown rule {name!r}; expected one of change, {', '.join(RULES)}")
        print(json.dumps({"rule": spec, "default": args.default, "images": len(priced), **results[spec]}))
    print(json.dumps({"rule": "hindsight", "images": len(priced), **hindsight(priced)}))
    if args.ungated is not None:
        print(
            json.dumps(
                {"rule": f"ungated {args.ungated}", "images": len(priced), **ungated(priced, args.ungated)}
            )
        )
    if args.plot:
        print(plot(priced, results, args.plot, args.title), file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
