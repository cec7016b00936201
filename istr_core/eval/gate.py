"""Pre-labels gated by their measured price: show the model's pre-labels at the score threshold that
would have cost the annotator least on the last few reviewed images, or none at all when clicking
every object from scratch is cheaper. One implementation, for istr-app and the session benchmark.

Once an image is reviewed its truth is known, so :func:`price_thresholds` prices its pre-labels as
they were shown (predicted before the model learned from that image, kept down to the lowest
threshold) with the session's own accounting, :func:`annotation_cost.review_image`, at every
threshold of a fixed grid, and prices "no pre-labels" (threshold ``None``: every object clicked from
nothing). :class:`PrelabelGate` keeps the last ``window`` priced images (few, so that a change of
scene is followed within a few images) and decides for the next image: the threshold with the
fewest seconds over them, or ``None`` when clicking costs no more. One exception, for the first
images after a change of scene: an image of another size than the last ``window`` (all of one size)
is decided on the priced images of its own size, and with none, shown nothing (replayed on the
sessions, benchmarks/README "A new image size after a run of one size": never dearer than the last
images alone, 1.004 -> 0.985 x clicks on nuclei); in a folder of mixed sizes the last images are no
run of one size, and the rule is the plain one.

The click tool has two paths, the model's and the weight-free one, and the model's is not always the
cheaper (on small objects the embedded default model makes the click tool worse, README "Click to
segment"). An image priced with both (``PricedImage.weight_free``) lets the gate choose the path as
well: the (path, threshold) pair with the fewest seconds, the weight-free path on ties; before any
image is priced the weight-free one.

Pre-label outlines can be snapped to the image's own edges (:mod:`istr_core.predict.edge_snap`):
it wins on microscopy blobs and loses on textured objects, so an image priced with its snapped
pre-labels too (``PricedImage.snapped``) lets the gate choose that as well; unsnapped on ties. Only
where asked (``PrelabelGate(snap_edges=True)``; :func:`outlines_to_price` gives its callers what to
price): chosen by the last images, it saved 3.3% of the seconds on droplets, tied on the procedural
scenes and cost 0.7% on nuclei (a soft-edged image after crisp ones), on the 30-image sessions
(benchmarks/README, "Outlines snapped to the image's edge"), so by default outlines are the model's.

Pre-labels need not be the model's: objects found like the reviewed ones of the same image size
(:mod:`istr_core.interactive.exemplars`: template matching, then the click tool's weight-free
path), which need no training, can be priced beside them (:func:`exemplars_to_price`;
``PricedImage.exemplars``) and shown instead where cheaper (``PrelabelGate(exemplars=True)``,
istr-app's default); an image of a size nobody has reviewed has none to show, and is hidden.

Nor need they come from another image: the annotator clicks an image's first :data:`SEED_OBJECTS`
objects, then the objects like those are found on the same image (istr-app's Find like these, run
by itself after the 3rd object). :func:`seeded_to_price` prices it on a reviewed image (its first 3
true objects clicked from nothing, the rest reviewed with what was found), ``PricedImage.seeded``
holds it and ``PrelabelGate(seeded=True)`` chooses it where cheaper (istr-app's default); needing no
other image, it is also what an image that would be hidden for want of its own size's prices or
exemplars is shown, when it was cheaper than clicking on the last images (benchmarks/README,
"Click 3, then find the rest": droplets 0.718 -> 0.642 x clicks, the first frames of each video).

Before any image is priced the gate shows ``default``: a threshold, or ``None``, no pre-labels (the
session benchmark's and istr-app's choice for the embedded default model: its unpriced pre-labels on
the first image of new data cost more than clicking on droplets and the procedural scenes, and the
same on nuclei; benchmarks/README, "Nothing shown before the first price").

Pricing every threshold costs about one pricing: greedy matching by score makes the matching at
threshold t the pairs of the full matching whose score is >= t, so each pair's fix and each object's
from-scratch clicks are counted once per image (a memoised click counter); the mask IoUs once too.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..interactive.exemplars import objects_like, objects_like_these
from ..predict.edge_snap import snap_to_edges
from ..structures import Prediction
from .annotation_cost import ClickCounter, CostModel, ImageReview, mask_iou_matrix, review_image

THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05 .. 0.95
Option = float | None  # a score threshold, or None: show no pre-labels
MODEL, WEIGHT_FREE = "model", "weight-free"  # the click tool's two paths
# the pre-labels a table prices, beside the model's outlines (False) and the same snapped (True):
# objects found from the reviewed ones (:mod:`istr_core.interactive.exemplars`), no model
EXEMPLARS = "exemplars"
# or: the annotator clicks the image's first SEED_OBJECTS objects, then the objects like them on the
# same image are found (istr-app's Find like these, run for them) and reviewed: no model, no other image
SEEDED = "seeded"
SEED_OBJECTS = 3
Outlines = bool | str  # False: the model's outlines, True: snapped to the image's edges, EXEMPLARS, SEEDED


def price_thresholds(
    pred_masks: Sequence[np.ndarray],
    pred_scores: Sequence[float],
    true_masks: Sequence[np.ndarray],
    cost: CostModel | None = None,
    clicks_to_reach: ClickCounter | None = None,
    pred_labels: Sequence[int] | None = None,
    true_labels: Sequence[int] | None = None,
    thresholds: Sequence[float] = THRESHOLDS,
) -> dict[Option, ImageReview]:
    """The review of one image had its pre-labels been shown at each threshold (the predictions with
    score >= t), and with none shown (key ``None``). Labels count as in :func:`review_image`."""
    if len(pred_masks) != len(pred_scores):
        raise ValueError(f"{len(pred_masks)} predicted masks but {len(pred_scores)} scores")
    cost = cost or CostModel()
    pred = [np.asarray(m, bool) for m in pred_masks]
    true = [np.asarray(m, bool) for m in true_masks]
    counter = None if clicks_to_reach is None else memoised_clicks(clicks_to_reach)
    iou = mask_iou_matrix(pred, true) if pred and true else np.zeros((len(pred), len(true)))
    labels = list(true_labels) if true_labels is not None else None
    reviews: dict[Option, ImageReview] = {None: review_image([], [], true, cost, counter, [], labels)}
    for t in sorted(set(thresholds)):
        keep = [k for k, s in enumerate(pred_scores) if s >= t]
        kept_labels = None if pred_labels is None else [pred_labels[k] for k in keep]
        reviews[t] = review_image(
            [pred[k] for k in keep],
            [pred_scores[k] for k in keep],
            true,
            cost,
            counter,
            kept_labels,
            labels,
            iou[keep],
        )
    return reviews


def outlines_to_price(image: np.ndarray, masks: Sequence[np.ndarray], snap_edges: bool) -> dict:
    """The outlines :func:`price_outlines` prices for a gate: the model's (key False) and, for a gate
    that may snap (``snap_edges``), the same snapped to ``image``'s edges (key True)."""
    masks = list(masks)
    return {False: masks, True: snap_to_edges(image, masks)} if snap_edges else {False: masks}


EXEMPLAR_IMAGES = 3  # the reviewed images of a size that exemplar pre-labels are found from: the last 3


def exemplars_to_price(
    image: np.ndarray,
    reviewed: Sequence[tuple[np.ndarray, np.ndarray, Sequence[int]]],
    own: tuple[np.ndarray, Sequence[int]],
) -> list[Prediction]:
    """The objects :func:`price_outlines` prices as exemplar pre-labels of a reviewed ``image``:
    found from ``reviewed`` (image, masks, labels) of the reviewed images of its size before it (the
    last :data:`EXEMPLAR_IMAGES` are used), as it would have been shown them; with none, from its own
    reviewed objects ``own`` (masks, labels), so that the gate learns from the first image of a
    scene what exemplars would do on the next (that image itself is never shown any)."""
    return objects_like(image, list(reviewed)[-EXEMPLAR_IMAGES:] or [(image, *own)]) or []


def seeded_to_price(image: np.ndarray, own: tuple[np.ndarray, Sequence[int]]) -> list[Prediction]:
    """The objects :func:`price_outlines` prices as a reviewed ``image``'s seeded pre-labels: those
    like its first :data:`SEED_OBJECTS` reviewed objects (``own``: masks, labels), found outside them
    on the same image, as the annotator who clicked those first would have been shown them."""
    masks, labels = own
    return objects_like_these(image, np.asarray(masks)[:SEED_OBJECTS], list(labels)[:SEED_OBJECTS])


def price_outlines(
    outlines: dict[bool, Sequence[np.ndarray]],
    pred_scores: Sequence[float],
    true_masks: Sequence[np.ndarray],
    cost: CostModel | None,
    counters: dict[str, ClickCounter | None],
    pred_labels: Sequence[int] | None = None,
    true_labels: Sequence[int] | None = None,
    thresholds: Sequence[float] = THRESHOLDS,
    exemplars: Sequence | None = None,
    seeded: Sequence | None = None,
) -> dict[tuple[str, Outlines], dict[Option, ImageReview]]:
    """:func:`price_thresholds` of one image's pre-labels for every click path in ``counters`` (a
    counter None: polygon pricing) and every outline in ``outlines`` (False: the model's, True:
    snapped to the image's edges, :mod:`istr_core.predict.edge_snap`), keyed (path, snapped); with
    ``exemplars`` (predictions of :func:`istr_core.interactive.exemplars.find_like`, with their own
    scores and labels), those too, keyed (path, EXEMPLARS); with ``seeded`` (:func:`seeded_to_price`),
    the first :data:`SEED_OBJECTS` true objects clicked from nothing and the rest reviewed with those,
    keyed (path, SEEDED). One memoised counter per path, so the missed objects and the pre-labels the
    snap left alone are simulated once for every table."""
    true = [np.asarray(m, bool) for m in true_masks]  # the same arrays for both: the memo's keys
    tables = {}
    for path, counter in counters.items():
        memo = None if counter is None else memoised_clicks(counter)
        for snap, masks in outlines.items():
            tables[(path, snap)] = price_thresholds(
                masks, pred_scores, true, cost, memo, pred_labels, true_labels, thresholds
            )
        if exemplars is not None:
            labels = None if pred_labels is None else [p.label for p in exemplars]
            tables[(path, EXEMPLARS)] = price_thresholds(
                [p.mask for p in exemplars],
                [p.score for p in exemplars],
                true,
                cost,
                memo,
                labels,
                true_labels,
                thresholds,
            )
        if seeded is not None:
            labels = None if pred_labels is None else [p.label for p in seeded]
            tables[(path, SEEDED)] = _price_seeded(seeded, true, cost, memo, labels, true_labels, thresholds)
    return tables


def _price_seeded(found, true, cost, counter, labels, true_labels, thresholds) -> dict[Option, ImageReview]:
    """The first :data:`SEED_OBJECTS` of ``true`` clicked from nothing, plus the rest reviewed with
    ``found`` shown at each threshold (with none shown: every object clicked, as in the other tables)."""
    k = SEED_OBJECTS
    seed_labels = None if true_labels is None else list(true_labels)[:k]
    rest_labels = None if true_labels is None else list(true_labels)[k:]
    seeds = review_image([], [], true[:k], cost or CostModel(), counter, [], seed_labels)
    rest = price_thresholds(
        [p.mask for p in found],
        [p.score for p in found],
        true[k:],
        cost,
        counter,
        labels,
        rest_labels,
        thresholds,
    )
    return {t: seeds + review for t, review in rest.items()}


def memoised_clicks(counter: ClickCounter) -> ClickCounter:
    """``counter`` asked once per (start mask, true mask) pair of arrays. The arrays are kept with
    their count, so an id is never reused by another array while the memo lives."""
    memo: dict[tuple[int, int], tuple[np.ndarray | None, np.ndarray, int | None]] = {}

    def clicks_to_reach(start: np.ndarray | None, truth: np.ndarray) -> int | None:
        key = (id(start), id(truth))
        hit = memo.get(key)
        if hit is None or hit[0] is not start or hit[1] is not truth:
            hit = memo[key] = (start, truth, counter(start, truth))
        return hit[2]

    return clicks_to_reach


@dataclass(frozen=True)
class PricedImage:
    """What one reviewed image's pre-labels would have cost: seconds per option (thresholds, None)
    with the click tool's model path (or its only path), and, where also priced, with its
    weight-free path."""

    key: str
    objects: int
    seconds: dict[Option, float]
    weight_free: dict[Option, float] | None = None
    size: tuple[int, int] | None = None  # (height, width) of the image: a new size is a new scene
    # the same image with its pre-labels' outlines snapped to the image's edges, per click path
    snapped: dict[str, dict[Option, float]] | None = None
    # the same image shown the objects found from the reviewed images before it, per click path
    exemplars: dict[str, dict[Option, float]] | None = None
    # the same image with its first SEED_OBJECTS objects clicked, then shown the objects like them
    seeded: dict[str, dict[Option, float]] | None = None

    @classmethod
    def from_reviews(
        cls,
        key: str,
        reviews: dict[Option, ImageReview],
        weight_free: dict[Option, ImageReview] | None = None,
        size: tuple[int, int] | None = None,
    ) -> PricedImage:
        free = None if weight_free is None else _seconds(weight_free)
        size = None if size is None else (int(size[0]), int(size[1]))
        return cls(key, reviews[None].objects, _seconds(reviews), free, size)

    @classmethod
    def from_tables(
        cls,
        key: str,
        tables: dict[tuple[str, Outlines], dict[Option, ImageReview]],
        size: tuple[int, int] | None = None,
    ) -> PricedImage:
        """From :func:`price_outlines`' reviews per (click path, outlines)."""
        free = tables.get((WEIGHT_FREE, False))
        priced = cls.from_reviews(key, tables[(MODEL, False)], free, size)
        snapped = {path: _seconds(r) for (path, snap), r in tables.items() if snap is True}
        found = {path: _seconds(r) for (path, snap), r in tables.items() if snap == EXEMPLARS}
        seeded = {path: _seconds(r) for (path, snap), r in tables.items() if snap == SEEDED}
        return dataclasses.replace(
            priced, snapped=snapped or None, exemplars=found or None, seeded=seeded or None
        )

    def by_path(self) -> dict[str, dict[Option, float]]:
        return {MODEL: self.seconds} | ({} if self.weight_free is None else {WEIGHT_FREE: self.weight_free})

    def tables(self) -> dict[tuple[str, Outlines], dict[Option, float]]:
        """Prices per (click path, outlines: False, True for snapped, EXEMPLARS or SEEDED)."""
        raw = {(path, False): prices for path, prices in self.by_path().items()}
        snapped = {(path, True): prices for path, prices in (self.snapped or {}).items()}
        found = {(path, EXEMPLARS): prices for path, prices in (self.exemplars or {}).items()}
        seeded = {(path, SEEDED): prices for path, prices in (self.seeded or {}).items()}
        return raw | snapped | found | seeded


def _seconds(reviews: dict[Option, ImageReview]) -> dict[Option, float]:
    return {t: r.seconds for t, r in reviews.items()}


@dataclass(frozen=True)
class GateDecision:
    """The option for the next images and why: prices are seconds per object over the last
    ``images`` priced images (``objects`` objects); ``best_threshold`` is the cheapest threshold even
    when clicking wins. Nothing priced yet: the default threshold, prices None."""

    threshold: float | None
    seconds_per_object: float | None = None  # of the chosen option
    clicks_seconds_per_object: float | None = None  # every object clicked from scratch
    best_threshold: float | None = None
    best_seconds_per_object: float | None = None
    images: int = 0
    objects: int = 0
    click_path: str = MODEL  # the click tool's path for the next images
    other_path_seconds_per_object: float | None = None  # the other path at its cheapest option
    new_scene: bool = False  # an image of a new size after a run of another: none of its size priced
    snap_edges: bool = False  # the pre-labels' outlines are snapped to the image's edges
    exemplars: bool = False  # the pre-labels are objects found from the reviewed ones, not the model's
    no_exemplars: bool = False  # exemplars were chosen, but no reviewed image of this size holds any
    seeded: bool = False  # the annotator clicks the first SEED_OBJECTS objects, then is shown those like them

    @property
    def weight_free(self) -> bool:
        return self.click_path == WEIGHT_FREE

    @property
    def outlines(self) -> Outlines:
        """The key of the chosen pre-labels in a priced image's tables (beside the click path)."""
        return SEEDED if self.seeded else EXEMPLARS if self.exemplars else self.snap_edges

    @property
    def hidden(self) -> bool:
        return self.threshold is None

    def line(self) -> str:
        """One line for the status bar and the benchmark log."""
        if self.seeded and not self.hidden:
            why = (
                "a new image size; "
                if self.new_scene
                else "no reviewed image of this size; "
                if self.no_exemplars
                else ""
            )
            last = f"last {self.images} reviewed image{'s' if self.images > 1 else ''}"
            return (
                f"{why}click {SEED_OBJECTS} objects, then objects like them, threshold {self.threshold:.2f}: "
                f"{self.seconds_per_object:.1f} s/object against {self.clicks_seconds_per_object:.1f} "
                f"by clicking ({last}){self.path_note()}"
            )
        if self.new_scene:
            return f"pre-labels hidden: a new image size, none of it reviewed yet{self.path_note()}"
        if self.no_exemplars:
            return f"pre-labels hidden: no reviewed image of this size to find objects like{self.path_note()}"
        if not self.images and self.hidden:
            return f"pre-labels hidden until a reviewed image prices them{self.path_note()}"
        if not self.images:
            return f"threshold {self.threshold:.2f} (default): no reviewed image priced yet{self.path_note()}"
        last = f"last {self.images} reviewed image{'s' if self.images > 1 else ''}"
        clicking = f"{self.clicks_seconds_per_object:.1f} by clicking"
        if self.hidden and abs(self.best_seconds_per_object - self.clicks_seconds_per_object) < 1e-9:
            return f"pre-labels hidden: no threshold saves time ({clicking}, {last}){self.path_note()}"
        if self.hidden:
            return (
                f"pre-labels hidden: {self.best_seconds_per_object:.1f} s/object at best (threshold "
                f"{self.best_threshold:.2f}) against {clicking} ({last}){self.path_note()}"
            )
        shown = f"threshold {self.threshold:.2f}: {self.seconds_per_object:.1f} s/object"
        if self.exemplars:
            shown = f"objects like the reviewed ones, {shown}"
        snapped = ", outlines snapped to edges" if self.snap_edges else ""
        return f"{shown}{snapped} against {clicking} ({last}){self.path_note()}"

    def path_note(self) -> str:
        """The line's ending on the click tool's path: empty on the model's."""
        if not self.weight_free:
            return ""
        if self.new_scene:
            return "; click tool: no model"
        if not self.images:
            return "; click tool: no model yet"
        return f"; click tool: no model ({self.other_path_seconds_per_object:.1f} s/object with it)"


class PrelabelGate:
    """Keeps the last ``window`` priced images and decides what the next image is shown (see the
    module docstring). ``default`` is the threshold before any image is priced (None: no pre-labels);
    it is one of the candidate thresholds (``thresholds``, the grid plus the default).
    ``choose_click_path``: callers price each image with both click paths, and the gate picks the
    click tool's path too. ``snap_edges``: callers price the snapped outlines too
    (:func:`outlines_to_price`), and the gate may choose them. ``exemplars``: callers price the
    objects found from the reviewed images (:func:`exemplars_to_price`), and the gate may show those
    instead of the model's; on an image no reviewed image of its size precedes there are none to
    show, and it is hidden. ``seeded``: callers price "click the first few, then find the rest like
    them" (:func:`seeded_to_price`), and the gate may choose it; it needs no other image, so it is
    also what an image is shown that would otherwise be hidden for want of its size's prices or
    exemplars, when it was cheaper than clicking on the last images."""

    def __init__(
        self,
        window: int = 3,
        default: float | None = 0.3,
        grid: Sequence[float] = THRESHOLDS,
        choose_click_path: bool = True,
        snap_edges: bool = False,
        exemplars: bool = False,
        seeded: bool = False,
    ):
        if window < 1:
            raise ValueError(f"the gate's window must be >= 1 image, not {window}")
        self.window, self.default = window, None if default is None else float(default)
        self.choose_click_path = choose_click_path  # its callers price both click paths
        self.snap_edges = snap_edges  # its callers price the snapped outlines too
        self.exemplars = exemplars  # its callers price the objects found from the reviewed ones too
        self.seeded = seeded  # its callers price "click a few, then find the rest like them" too
        first = () if self.default is None else (self.default,)
        self.thresholds: tuple[float, ...] = tuple(sorted({*map(float, grid), *first}))
        self.priced: deque[PricedImage] = deque(maxlen=window)
        self._by_size: dict[tuple[int, int], deque[PricedImage]] = {}
        self.size: tuple[int, int] | None = None  # of the image the decision is for (focus)
        # before any review the click tool starts weight-free when the gate picks its path: measured,
        # the embedded default model makes clicks worse on every dataset here (README "Click to segment")
        self._decision = GateDecision(self.default, click_path=self._first_path)

    @property
    def _first_path(self) -> str:
        return WEIGHT_FREE if self.choose_click_path else MODEL

    @property
    def decision(self) -> GateDecision:
        """What the image in focus (:meth:`focus`; the next image of the last one's size) is shown."""
        if not self._new_scene():
            decision = self._decision
        elif not self._by_size.get(self.size):
            return self._seeded_instead(GateDecision(None, click_path=self._first_path, new_scene=True))
        else:
            decision = decide(list(self._by_size[self.size]), self.thresholds)
        if decision.exemplars and self.size is not None and self.size not in self._by_size:
            hidden = dataclasses.replace(decision, threshold=None, exemplars=False, no_exemplars=True)
            return self._seeded_instead(hidden)
        return decision

    def _seeded_instead(self, hidden: GateDecision) -> GateDecision:
        """``hidden`` (an image with nothing of its own to decide from or show), or, for a gate that
        may seed and where the last images price it below clicking, "click a few, then find the rest"."""
        if not self.seeded or not self.priced:
            return hidden
        seeded = decide(list(self.priced), self.thresholds, only=SEEDED)
        if seeded.hidden or not seeded.seeded:
            return hidden
        return dataclasses.replace(seeded, new_scene=hidden.new_scene, no_exemplars=hidden.no_exemplars)

    @decision.setter
    def decision(self, decision: GateDecision) -> None:
        self._decision = decision

    def focus(self, size: tuple[int, int] | None) -> GateDecision:
        """Decide for an image of ``size`` (height, width) from now on; returns the decision."""
        self.size = None if size is None else (int(size[0]), int(size[1]))
        return self.decision

    def _new_scene(self) -> bool:
        sizes = {p.size for p in self.priced}
        return (
            self.size is not None
            and len(self.priced) == self.window
            and len(sizes) == 1
            and None not in sizes
            and sizes != {self.size}
        )

    def add(self, priced: PricedImage) -> GateDecision:
        """Take one more reviewed image's prices into account; returns (and keeps) the new decision.
        A gate that may not snap keeps no snapped prices, so it never chooses them; nor exemplars."""
        missing = [t for t in (None, *self.thresholds) if any(t not in s for s in priced.tables().values())]
        if missing:
            raise ValueError(f"{priced.key}: not priced at {missing}")
        if priced.snapped is not None and not self.snap_edges:
            priced = dataclasses.replace(priced, snapped=None)
        if priced.exemplars is not None and not self.exemplars:
            priced = dataclasses.replace(priced, exemplars=None)
        if priced.seeded is not None and not self.seeded:
            priced = dataclasses.replace(priced, seeded=None)
        self.priced.append(priced)
        if priced.size is not None:
            self._by_size.setdefault(priced.size, deque(maxlen=self.window)).append(priced)
        self._decision = decide(list(self.priced), self.thresholds)
        return self.decision


# the (click path, outlines) tables in order of preference on a tie: weight-free before the model
# (it needs no model), the model's outlines before snapped ones, and before the exemplars' objects
_KEYS = (
    (WEIGHT_FREE, False),
    (MODEL, False),
    (WEIGHT_FREE, True),
    (MODEL, True),
    (WEIGHT_FREE, EXEMPLARS),
    (MODEL, EXEMPLARS),
    (WEIGHT_FREE, SEEDED),
    (MODEL, SEEDED),
)


def decide(
    priced: list[PricedImage], thresholds: Sequence[float], only: Outlines | None = None
) -> GateDecision:
    """The cheapest option over ``priced`` (total seconds); clicking wins its ties (pre-labels that
    save nothing are not worth showing), and of tied thresholds the middle one is taken. With every
    image priced on both click paths, the path is chosen too (the cheaper at its best option; the
    weight-free one on a tie: it needs no model); with every image priced with snapped outlines too,
    whether to snap (not on a tie), and with exemplar prices, whether to show the objects found from
    the reviewed images instead (not on a tie), or "click a few, then find the rest" (not on a tie);
    the prices reported are the chosen table's. ``only``: the tables of those outlines alone (when
    every image has them)."""
    objects = sum(p.objects for p in priced)
    tables = [p.tables() for p in priced]
    keys = [k for k in _KEYS if all(k in t for t in tables)]
    keys = [k for k in keys if only is None or k[1] == only] or keys
    options = (None, *thresholds)
    total = {k: {t: sum(q[k][t] for q in tables) for t in options} for k in keys}
    key = min(keys, key=lambda k: min(total[k].values()))
    cost = total[key]
    best_cost = min(cost[t] for t in thresholds)
    tied = [t for t in thresholds if cost[t] <= best_cost + 1e-9]
    best = tied[len(tied) // 2]
    per = max(objects, 1)
    chosen = None if cost[None] <= best_cost + 1e-9 else best
    other = [total[k] for k in keys if k[0] != key[0]]
    return GateDecision(
        chosen,
        cost[chosen] / per,
        cost[None] / per,
        best,
        best_cost / per,
        len(priced),
        objects,
        key[0],
        min(min(t.values()) for t in other) / per if other else None,
        snap_edges=key[1] is True and chosen is not None,
        exemplars=key[1] == EXEMPLARS and chosen is not None,
        seeded=key[1] == SEEDED and chosen is not None,
    )
