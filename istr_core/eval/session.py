"""A simulated annotation session: what a person would spend per object with each way of learning.

The annotator takes the images in order; on each, the tool pre-labels with its current model and
the annotator's work is priced by :mod:`istr_core.eval.annotation_cost`; the image is then marked reviewed
and its true masks join the training set. Four modes:

* ``clicks``: no model at all: nothing is pre-labelled, every object is made from nothing with the
  click tool's weight-free path (what a SAM-tool user does; the bar every other mode must beat). No
  training; the images are taken in file order;
* ``fixed``: the starting model, never trained (what tools with a frozen model give);
* ``batch``: every ``batch_every`` reviewed images, a fresh ``istr finetune`` of the starting model on
  all of them (the GUI's "Fine-tune on reviewed images" button): it trains while the annotator does
  the next ``batch_every`` images and is swapped in when that compute has been spent;
* ``online``: :class:`istr_core.train.online.OnlineTrainer` continues from its current weights after every
  reviewed image (what ``istr-app`` does when online learning is on).

``order="uncertainty"`` takes, instead of the next image in file order, the remaining image the
current model is least sure about (the sum over its predictions of 4 s (1 - s), s the score: many
predictions near 0.5 weigh most), the "next most useful image" of active learning.

With a :class:`istr_core.eval.gate.PrelabelGate` (``fixed``, ``batch``, ``online``; the mode is then
called e.g. ``online+gate``), each image is shown its pre-labels at the threshold the gate chose from
the images reviewed before it, or none; after the review the gate prices that image's pre-labels at
every threshold (out of sample: the model has not learned from it yet). Each pricing is a session of
its own: the click-priced one is gated on click prices, the polygon-priced one on polygon prices (a
second gate with the same settings; the model's path is the same for both). The click-priced gate
also prices each image with the click tool's weight-free path and picks the path the next image is
clicked with (``PrelabelGate(choose_click_path=False)``: always the model's). With
``PrelabelGate(snap_edges=True)`` both gates also price each image with its pre-labels' outlines
snapped to the image's edge (:mod:`istr_core.predict.edge_snap`) and snap the next images' where that
was the cheaper. With ``PrelabelGate(exemplars=True)`` they also price each image shown the objects
found from the reviewed images of its size before it (:func:`istr_core.eval.gate.exemplars_to_price`),
and show those instead of the model's where that was the cheaper; with ``PrelabelGate(seeded=True)``,
each image with its first objects clicked and the rest shown those like them on the same image
(:func:`istr_core.eval.gate.seeded_to_price`), chosen where cheaper.

The training budget is counted in optimiser steps per reviewed image (the same for every mode), so a
session is reproducible and the modes get the same compute; ``benchmarks/annotation_session.py``
turns a per-image time budget into steps on the machine it runs on.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..data.atomic import write_json_atomic
from ..data.images import read_image
from ..data.rle import annotation_mask
from ..formats.coco import CocoData, load_coco
from ..formats.dataset import resolve_image_path
from ..predict.segmenter import Segmenter
from ..train.checkpoint import Checkpoint, load_checkpoint
from ..train.finetune import finetune
from ..train.online import OnlineConfig, OnlineTrainer
from .annotation_cost import CostModel, ImageReview, review_image
from .click_tool import ClickTool
from .gate import (
    EXEMPLAR_IMAGES,
    MODEL,
    WEIGHT_FREE,
    GateDecision,
    PrelabelGate,
    PricedImage,
    exemplars_to_price,
    outlines_to_price,
    price_outlines,
    seeded_to_price,
)

MODES = ("clicks", "fixed", "batch", "online")
GATED_MODES = ("fixed", "batch", "online")  # the modes that pre-label, so a gate can choose for them
ORDERS = ("file", "uncertainty")


@dataclass
class Truth:
    key: str
    image: np.ndarray
    masks: np.ndarray  # (M, H, W) uint8
    labels: np.ndarray  # (M,) int64, indices into the session's class names


@dataclass
class SessionResult:
    mode: str
    reviews: list[ImageReview] = field(default_factory=list)
    click_reviews: list[ImageReview] = field(default_factory=list)  # empty without a click tool
    steps: int = 0
    steps_per_image: list[int] = field(default_factory=list)  # online mode: the steps after each image
    wall_s: float = 0.0
    train_wall_s: float = 0.0  # of wall_s, the time spent training (what S seconds per image buys)
    final: Checkpoint | None = None
    order: list[str] = field(default_factory=list)  # image keys in the order they were reviewed
    # polygon pricing of the same session at other score thresholds (the model's path is the same:
    # it learns from the true masks whatever the annotator was shown)
    other_thresholds: dict[float, list[ImageReview]] = field(default_factory=dict)
    pricing_wall_s: float = 0.0  # of wall_s, predicting and pricing (with a gate: every threshold)
    # with a gate: what each image was shown, in the click-priced session (empty without a click
    # tool) and in the polygon-priced one (each pricing's own gate chooses on its own prices)
    gate: list[GateDecision] = field(default_factory=list)
    polygon_gate: list[GateDecision] = field(default_factory=list)
    # with a gate and a click tool: what each image would have cost at every option, as the
    # click-priced gate saw it (so other gating rules can be replayed on the same session)
    priced: list[PricedImage] = field(default_factory=list)

    def summary(self, last: int = 10) -> dict:
        out = {"mode": self.mode, "images": len(self.reviews), "train_steps": self.steps}
        out["wall_s"] = round(self.wall_s, 1)
        out["train_wall_s"] = round(self.train_wall_s, 1)
        if self.steps:
            out["train_wall_s_per_step"] = round(self.train_wall_s / self.steps, 3)
        if len(set(self.steps_per_image)) > 1:  # a budget that followed the model's size
            out["steps_per_image"] = self.steps_per_image
        out["pricing_wall_s_per_image"] = round(self.pricing_wall_s / max(len(self.reviews), 1), 2)
        for prefix, decisions in (("", self.polygon_gate), ("clicks_", self.gate)):
            if decisions:
                out[f"{prefix}gate_thresholds"] = ["none" if d.hidden else d.threshold for d in decisions]
                out[f"{prefix}gate_hidden_images"] = sum(d.hidden for d in decisions)
        if self.gate:
            out["clicks_gate_weight_free_images"] = sum(d.weight_free for d in self.gate)
            out["clicks_gate_snapped_images"] = sum(d.snap_edges for d in self.gate)
            out["clicks_gate_exemplar_images"] = sum(d.exemplars for d in self.gate)
            out["clicks_gate_seeded_images"] = sum(d.seeded for d in self.gate)
        out.update(_totals(self.reviews, last, ""))
        if self.click_reviews:
            out.update(_totals(self.click_reviews, last, "clicks_"))
        if self.other_thresholds:
            out["other_thresholds"] = {
                str(t): {
                    k: v
                    for k, v in _totals(reviews, last, "").items()
                    if k in ("seconds_per_object", "accepted_share", f"accepted_share_last{last}")
                }
                for t, reviews in sorted(self.other_thresholds.items())
            }
        return out


def _totals(reviews: list[ImageReview], last: int, prefix: str) -> dict:
    objects = sum(r.objects for r in reviews)
    tail = reviews[-last:]
    tail_objects = sum(r.objects for r in tail)
    out = {
        f"{prefix}seconds_per_object": round(sum(r.seconds for r in reviews) / max(objects, 1), 2),
        f"{prefix}seconds_per_object_per_image": [round(r.seconds / max(r.objects, 1), 2) for r in reviews],
    }
    if not prefix:
        out["objects"] = objects
        out["accepted_share"] = round(sum(r.accepted for r in reviews) / max(objects, 1), 3)
        out[f"accepted_share_last{last}"] = round(sum(r.accepted for r in tail) / max(tail_objects, 1), 3)
        out["per_image"] = [{k: v for k, v in asdict(r).items() if k != "matched_iou"} for r in reviews]
    return out


def load_truths(coco: CocoData, images_dir: Path, first: int | None = None) -> list[Truth]:
    """The first ``first`` images of ``coco`` in file order with their true masks (crowds dropped)."""
    index = coco.class_index()
    truths = []
    for info in coco.images[:first]:
        image = read_image(resolve_image_path(images_dir, info.file_name))
        anns = [a for a in info.annotations if not a.get("iscrowd", 0)]
        h, w = image.shape[:2]
        masks = np.stack([annotation_mask(a, h, w) for a in anns]) if anns else np.zeros((0, h, w), np.uint8)
        labels = np.array([index[a["category_id"]] for a in anns], np.int64)
        truths.append(Truth(info.file_name, image, masks, labels))
    return truths


class _Pricer:
    """Prices one image's review with the model's predictions (both pricings when clicks are given);
    with a gate, at the threshold it chose (or with nothing shown), and then tells the gate what every
    threshold would have cost. Without a model (``clicks`` mode) nothing is shown."""

    def __init__(self, class_names, threshold, cost, click_tool: ClickTool | None, others=(), gate=None):
        self.class_names, self.threshold, self.others = class_names, threshold, tuple(others)
        self.cost, self.click_tool, self.gate = cost, click_tool, gate
        # with clicks, the polygon pricing is a session of its own: its gate decides on polygon prices
        self.polygon_gate = gate
        if gate is not None and click_tool is not None:
            self.polygon_gate = PrelabelGate(
                gate.window,
                gate.default,
                gate.thresholds,
                False,
                snap_edges=gate.snap_edges,
                exemplars=gate.exemplars,
                seeded=gate.seeded,
            )
        self.reviewed: dict[tuple[int, int], list[Truth]] = {}  # by image size: exemplar pre-labels' sources

    def __call__(self, segmenter: Segmenter | None, truth: Truth, result: SessionResult) -> None:
        started = time.monotonic()
        if segmenter is None:
            self._nothing_shown(truth, result)
        elif self.gate is None:
            self._at_threshold(segmenter, truth, result)
        else:
            self._gated(segmenter, truth, result)
        result.pricing_wall_s += time.monotonic() - started

    def _nothing_shown(self, truth: Truth, result: SessionResult) -> None:
        result.reviews.append(review_image([], [], list(truth.masks), self.cost))
        if self.click_tool is not None:
            counter = self.click_tool.for_image(None, truth.image)
            result.click_reviews.append(review_image([], [], list(truth.masks), self.cost, counter))

    def _at_threshold(self, segmenter: Segmenter, truth: Truth, result: SessionResult) -> None:
        everything = self._predict(segmenter, truth, self.threshold, result)
        preds = [p for p in everything if p.score >= self.threshold]
        result.reviews.append(self._review(preds, segmenter, truth))
        if self.click_tool is not None:
            counter = self.click_tool.for_image(segmenter, truth.image)
            result.click_reviews.append(self._review(preds, segmenter, truth, counter))

    def _gated(self, segmenter: Segmenter, truth: Truth, result: SessionResult) -> None:
        """Every option priced (:func:`price_outlines`): thresholds, click paths, and the outlines as
        predicted and, for a gate that may snap, snapped to the image's edges."""
        thresholds, size = self.gate.thresholds, truth.image.shape[:2]
        self.polygon_gate.focus(size)  # the gates decide for this image's size (a new one: a new scene)
        self.gate.focus(size)
        everything = self._predict(segmenter, truth, thresholds[0], result)
        masks = [p.mask for p in everything]
        outlines = outlines_to_price(truth.image, masks, self.gate.snap_edges)
        scores, labels = [p.score for p in everything], self._labels(everything, segmenter)
        found = None
        if self.gate.exemplars:  # the objects found from the reviewed images of this size
            before = [(t.image, t.masks, t.labels) for t in self.reviewed.get(size, [])]
            found = exemplars_to_price(truth.image, before, (truth.masks, truth.labels))
            self.reviewed[size] = [*self.reviewed.get(size, []), truth][-EXEMPLAR_IMAGES:]
        # the objects like the image's first few, found after the annotator clicked those
        seeded = seeded_to_price(truth.image, (truth.masks, truth.labels)) if self.gate.seeded else None
        true_labels = truth.labels.tolist()

        def tables(counters) -> dict:
            return price_outlines(
                outlines,
                scores,
                truth.masks,
                self.cost,
                counters,
                labels,
                true_labels,
                thresholds,
                found,
                seeded,
            )

        by_polygons = tables({MODEL: None})
        decision = self.polygon_gate.decision
        result.reviews.append(by_polygons[(MODEL, decision.outlines)][decision.threshold])
        result.polygon_gate.append(decision)
        if self.click_tool is not None:
            counters = {MODEL: self.click_tool.for_image(segmenter, truth.image)}
            if self.gate.choose_click_path:  # the weight-free path priced too: the gate picks one
                counters[WEIGHT_FREE] = self.click_tool.for_image(None, truth.image)
            by_clicks = tables(counters)
            decision = self.gate.decision
            result.click_reviews.append(
                by_clicks[(decision.click_path, decision.outlines)][decision.threshold]
            )
            result.gate.append(decision)
            result.priced.append(PricedImage.from_tables(truth.key, by_clicks, size))
            self.gate.add(result.priced[-1])
        self.polygon_gate.add(PricedImage.from_tables(truth.key, by_polygons, size))

    def _predict(self, segmenter: Segmenter, truth: Truth, lowest: float, result: SessionResult) -> list:
        """Predictions down to ``lowest`` and the other thresholds, at which they are priced (polygons)."""
        everything = segmenter.predict(truth.image, min((lowest, *self.others)))
        for t in self.others:
            review = self._review([p for p in everything if p.score >= t], segmenter, truth)
            result.other_thresholds.setdefault(t, []).append(review)
        return everything

    def _labels(self, preds, segmenter: Segmenter) -> list[int] | None:
        if len(self.class_names) <= 1:  # one class: nothing to choose, so nothing to price
            return None
        names = segmenter.class_names
        return [
            self.class_names.index(names[p.label]) if names[p.label] in self.class_names else -1
            for p in preds
        ]

    def _review(self, preds, segmenter: Segmenter, truth: Truth, counter=None) -> ImageReview:
        masks, scores = [p.mask for p in preds], [p.score for p in preds]
        labels, true_labels = self._labels(preds, segmenter), truth.labels.tolist()
        return review_image(masks, scores, list(truth.masks), self.cost, counter, labels, true_labels)


def run_session(
    mode: str,
    base: Path,
    annotations: Path,
    images_dir: Path,
    truths: list[Truth],
    steps_per_image: int,
    score_threshold: float = 0.5,
    online_config: OnlineConfig | None = None,
    batch_every: int = 10,
    cost: CostModel | None = None,
    click_tool: ClickTool | None = None,
    log: Callable[[str], None] = lambda m: None,
    order: str = "file",
    other_thresholds: tuple[float, ...] = (),
    gate: PrelabelGate | None = None,
    online_steps: Callable[[OnlineTrainer], int] | None = None,
) -> SessionResult:
    """Simulate one session in ``mode`` starting from checkpoint ``base`` (``clicks``: no model), with
    the pre-labels chosen by ``gate`` when given (a new gate per session); see the module docstring.
    ``online_steps``: the online trainer's steps after each image, asked with the trainer that has
    just added it (a step budget that follows the model's size); default ``steps_per_image``."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; expected one of {', '.join(ORDERS)}")
    if gate is not None and mode not in GATED_MODES:
        raise ValueError(f"mode {mode!r} shows no pre-labels: nothing to gate")
    start, cost, online_config = time.monotonic(), cost or CostModel(), online_config or OnlineConfig()
    coco = load_coco(annotations, require_images=False)
    class_names = coco.class_names
    price = _Pricer(class_names, score_threshold, cost, click_tool, other_thresholds, gate)
    result = SessionResult(mode if gate is None else f"{mode}+gate")
    base_ckpt = None if mode == "clicks" else load_checkpoint(base)
    segmenter = None if base_ckpt is None else Segmenter(base_ckpt, "cpu")
    trainer = OnlineTrainer(base_ckpt, class_names, online_config) if mode == "online" else None
    order = "file" if segmenter is None else order  # no model, nothing to be unsure about
    pending: list[tuple[int, Checkpoint]] = []  # batch mode: (swap in after this many reviews, model)
    remaining, reviewed = list(truths), []
    for i in range(len(truths)):
        if pending and i >= pending[0][0]:
            segmenter = Segmenter(pending.pop(0)[1], "cpu")
        truth = remaining.pop(_most_uncertain(segmenter, remaining) if order == "uncertainty" else 0)
        reviewed.append(truth)
        result.order.append(truth.key)
        price(segmenter, truth, result)
        per_object = result.reviews[-1].seconds / max(len(truth.masks), 1)
        clicked = result.click_reviews[-1].seconds / max(len(truth.masks), 1) if click_tool else None
        with_clicks = "" if clicked is None else f", {clicked:.1f} with clicks"
        log(f"{result.mode} image {i + 1}/{len(truths)}: {per_object:.1f} s/object{with_clicks}")
        if gate is not None:
            log(f"  gate for the next image: {gate.decision.line()}")
            if price.polygon_gate is not gate:
                log(f"  (polygon pricing: {price.polygon_gate.decision.line()})")
        if trainer is not None:
            trainer.add_example(truth.key, truth.image, truth.masks, truth.labels)
            started = time.monotonic()
            steps = steps_per_image if online_steps is None else online_steps(trainer)
            result.steps += trainer.train_for(steps=steps)
            result.steps_per_image.append(steps)
            result.train_wall_s += time.monotonic() - started
            segmenter = Segmenter(trainer.checkpoint(with_train_state=False), "cpu")
        elif mode == "batch" and (i + 1) % batch_every == 0 and i + 1 + batch_every < len(truths):
            # a job is only worth its compute when its model will pre-label some image
            iterations = steps_per_image * batch_every
            started = time.monotonic()
            model = _batch_finetune(base, coco, images_dir, reviewed, iterations)
            result.train_wall_s += time.monotonic() - started
            pending.append((i + 1 + batch_every, model))
            result.steps += iterations
    if trainer is not None:
        result.final = trainer.checkpoint(with_train_state=False)
    elif segmenter is not None:
        result.final = segmenter.checkpoint
    result.wall_s = time.monotonic() - start
    return result


def _most_uncertain(segmenter: Segmenter, candidates: list[Truth]) -> int:
    """Index of the candidate whose predictions are least sure (sum of 4 s (1 - s))."""
    scores = [sum(4 * p.score * (1 - p.score) for p in segmenter.predict(t.image, 0.05)) for t in candidates]
    return int(np.argmax(scores))


def _batch_finetune(base: Path, coco: CocoData, images_dir: Path, reviewed: list[Truth], iterations: int):
    """``istr finetune`` of ``base`` on the reviewed images (a subset of ``coco``), as the GUI's
    button runs it."""
    subset = coco.subset({t.key for t in reviewed})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reviewed.json"
        write_json_atomic(path, subset.to_dict())
        out = Path(tmp) / "batch.pt"
        finetune(path, images_dir, out, weights=base, iterations=iterations, device="cpu", log=lambda m: None)
        return load_checkpoint(out)
