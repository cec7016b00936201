"""Pre-labels found from the objects an annotator has already reviewed, with no model: the mean look
of the reviewed objects (per class) is searched for in a new image of the same scene by normalised
cross-correlation at the reviewed objects' sizes, and each match is outlined by the click tool's
weight-free path, as if the annotator had clicked its centre once.

Why: the online model needs many reviewed images before its pre-labels are worth showing, and a
scene's second and third images are where it has learned least. Objects of one scene look alike
(droplets of one video, nuclei under one microscope), so a template of the first image's objects
finds most of the next image's at once. Measured on droplets' video frames (the gate's replay,
benchmarks/README "Exemplar pre-labels"): the second and third frames of a video cost 35-40% less than
clicking. :mod:`istr_core.eval.gate` prices them beside the model's pre-labels and shows whichever
is cheaper on the last reviewed images.

A match's score is its correlation over the median the reviewed objects reach on their own images
(at most 1): a faint scene's objects correlate at 0.2-0.4 with any template where a crisp one's reach
0.9, so a bare correlation threshold chosen on one scene hid the next one's objects (droplets'
video3 after video2). Replayed with the gate (benchmarks/README, "Click 3, then find the rest"):
droplets 0.638 -> 0.631 x clicks (worst 5 consecutive images 0.838 -> 0.664), procedural scenes
0.958 -> 0.947, nuclei 0.984 -> 0.990.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi

from ..structures import Prediction
from .clicker import Click
from .predictor import ClickPredictor

MIN_CONTEXT = 1.1  # the narrowest ring of background a template keeps: a tenth of the object's side
# threads that outline matches: GrabCut releases the GIL; measured in benchmarks/README
OUTLINE_WORKERS = min(4, os.cpu_count() or 1)
FIND_MOST = 300  # matches outlined on one image like its own objects (~0.1-0.3 s each, one thread)


@dataclass(frozen=True)
class ExemplarConfig:
    """How objects like the reviewed ones are searched for. Sizes are the objects' box sides (the
    larger of height and width); areas their mask areas."""

    context: float = 2.0  # a template's side over its object's: the object and a ring of background
    template_side: int = 32  # the side every reviewed object's patch is averaged at
    size_quantiles: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)  # the sizes searched at
    min_score: float = 0.05  # the lowest correlation kept (the gate's thresholds choose above it)
    area_margin: float = 2.0  # a match's area: within this factor of the 2nd-98th percentile areas
    peak_spacing: float = 0.5  # the closest two matches may be, in 10th-percentile sizes
    most_per_object: float = 2.0  # matches outlined: at most this x the busiest reviewed image's count
    spare_candidates: int = 20  # ... plus this many
    template_per_image: bool = False  # one template per reviewed image and class, not per class


@dataclass(frozen=True)
class ClassTemplate:
    label: int
    template: np.ndarray  # (S, S) float32 mean grey patch
    sides: np.ndarray  # (N,) the reviewed objects' box sides (the larger of height, width), pixels
    areas: np.ndarray  # (N,) their mask areas


@dataclass(frozen=True)
class Exemplars:
    """The reviewed objects of a scene, summarised: one template per class, and how many objects the
    busiest reviewed image held (it caps the candidates a new image is outlined for)."""

    classes: tuple[ClassTemplate, ...]
    most_objects: int

    @classmethod
    def from_reviewed(
        cls,
        reviewed: Sequence[tuple[np.ndarray, np.ndarray, Sequence[int]]],
        config: ExemplarConfig = ExemplarConfig(),
    ) -> Exemplars | None:
        """From (image, (M, H, W) masks, M labels) of reviewed images; None when they hold no object."""
        patches: dict[tuple[int, int], list[np.ndarray]] = {}
        sides: dict[tuple[int, int], list[float]] = {}
        areas: dict[tuple[int, int], list[float]] = {}
        most = 0
        for k, (image, masks, labels) in enumerate(reviewed):
            grey = _grey(image)
            most = max(most, len(masks))
            for mask, label in zip(masks, labels, strict=True):
                patch = _patch(grey, np.asarray(mask, bool), config)
                if patch is None:
                    continue
                patch, side, area = patch
                key = (k if config.template_per_image else 0, int(label))
                patches.setdefault(key, []).append(patch)
                sides.setdefault(key, []).append(side)
                areas.setdefault(key, []).append(area)
        if not patches:
            return None
        classes = tuple(
            ClassTemplate(
                key[1],
                np.mean(patches[key], 0).astype(np.float32),
                np.array(sides[key]),
                np.array(areas[key]),
            )
            for key in sorted(patches)
        )
        return cls(classes, most)


def _grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image.astype(np.float32)
    return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _patch(grey: np.ndarray, mask: np.ndarray, config: ExemplarConfig):
    """The object's square patch (``context`` x its box side, centred on its box) at
    ``template_side``, its side and its area; None for an object of under 4 pixels."""
    ys, xs = np.nonzero(mask)
    if ys.size < 4:
        return None
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = float(max(y1 - y0, x1 - x0))
    scale = config.template_side / (config.context * side)
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    half = config.template_side / 2
    warp = np.float32([[scale, 0, half - cx * scale], [0, scale, half - cy * scale]])
    size = (config.template_side, config.template_side)
    patch = cv2.warpAffine(grey, warp, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
    return patch, side, float(ys.size)


def correlation_map(
    image: np.ndarray, template: ClassTemplate, config: ExemplarConfig = ExemplarConfig()
) -> np.ndarray:
    """(H, W) float32: at each pixel the best normalised cross-correlation of a template centred
    there over the searched scales; -1 where no template fits (near the border)."""
    grey = _grey(image)
    best = np.full(grey.shape, -1.0, np.float32)
    limit = min(grey.shape) - 1
    for side in np.unique(np.round(np.quantile(template.sides, config.size_quantiles))):
        # an object too large for its ring of background in this image keeps a narrower ring
        context = min(config.context, limit / side)
        if context < MIN_CONTEXT:
            continue
        t = max(5, int(round(context * side)))
        keep = int(round(config.template_side * context / config.context))
        cut = (config.template_side - keep) // 2
        patch = template.template[cut : cut + keep, cut : cut + keep]
        scaled = cv2.resize(patch, (t, t), interpolation=cv2.INTER_AREA)
        if float(scaled.std()) < 1e-3:  # a flat template correlates with nothing
            continue
        scores = cv2.matchTemplate(grey, scaled, cv2.TM_CCOEFF_NORMED)
        window = best[t // 2 : t // 2 + scores.shape[0], t // 2 : t // 2 + scores.shape[1]]
        np.maximum(window, scores, out=window)
    return best


def correlation_peaks(
    image: np.ndarray, template: ClassTemplate, config: ExemplarConfig = ExemplarConfig()
) -> list[tuple[float, int, int]]:
    """(score, x, y) of the local maxima of :func:`correlation_map`, highest first, down to
    ``min_score``."""
    return _peaks(correlation_map(image, template, config), template, config)


def _peaks(best: np.ndarray, template: ClassTemplate, config: ExemplarConfig) -> list[tuple[float, int, int]]:
    spacing = max(2, int(np.quantile(template.sides, 0.1) * config.peak_spacing))
    peaks = (best == ndi.maximum_filter(best, size=2 * spacing + 1)) & (best >= config.min_score)
    ys, xs = np.nonzero(peaks)
    order = np.argsort(-best[ys, xs], kind="stable")
    return [(float(best[ys[k], xs[k]]), int(xs[k]), int(ys[k])) for k in order]


def find_like(
    image: np.ndarray,
    exemplars: Exemplars,
    predictor: ClickPredictor | None = None,
    config: ExemplarConfig = ExemplarConfig(),
    taken: np.ndarray | None = None,
    most: int | None = None,
    reference: Sequence[tuple[np.ndarray, np.ndarray, Sequence[int]]] | None = None,
    workers: int = OUTLINE_WORKERS,
) -> list[Prediction]:
    """Objects in ``image`` like the exemplars, best match first: each correlation peak of a class
    outlined by ``predictor`` (the click tool, weight-free unless given one with a model; one is made
    when None) from one positive click, kept when its area is like the class's and it covers no peak
    already outlined (nor mostly inside ``taken``, the objects an image already has). The score is
    the correlation (relative, with ``reference``), so the gate's thresholds choose among them. At
    most ``most`` are outlined (default: ``most_per_object`` x the busiest reviewed image's objects +
    ``spare_candidates``).
    ``reference``: the (image, masks, labels) the exemplars were made from: a class's scores are
    then its correlation over the median its own reviewed objects reach on their images (at most
    1), so that a threshold means the same on a faint scene as on a crisp one. ``workers``: threads
    that outline the next matches ahead (the same result as one: a click's outline depends on the
    click alone)."""
    if predictor is None:
        predictor = ClickPredictor(None)
    predictor.set_image(image)
    peaks = []
    for k, c in enumerate(exemplars.classes):
        scores = correlation_map(image, c, config)
        scale = 1.0 if reference is None else _typical(c, reference, image, scores, config)
        peaks += [(score / scale, x, y, k) for score, x, y in _peaks(scores, c, config)]
    peaks.sort(key=lambda p: -p[0])
    areas = [np.quantile(c.areas, [0.02, 0.98]) for c in exemplars.classes]  # each class's usual areas
    budget = int(config.most_per_object * exemplars.most_objects) + config.spare_candidates
    budget = budget if most is None else most
    taken = np.zeros(image.shape[:2], bool) if taken is None else np.array(taken, bool)
    found: list[Prediction] = []
    for (score, x, y, k), mask in _outlined(predictor, peaks, taken, workers):
        if len(found) >= budget:
            break
        if taken[y, x]:  # inside an object already found: the same object again
            continue
        area = int(np.count_nonzero(mask))
        low, high = areas[k]
        if not low / config.area_margin <= area <= high * config.area_margin:
            continue
        if np.count_nonzero(mask & taken) > 0.5 * area:  # mostly an object already found
            continue
        taken |= mask
        ys, xs = np.nonzero(mask)
        box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        found.append(Prediction(mask, box, exemplars.classes[k].label, min(score, 1.0)))
    return found


def _outlined(predictor: ClickPredictor, peaks: list, taken: np.ndarray, workers: int):
    """(peak, its one-click outline) in the peaks' order, for those not inside ``taken`` (which the
    caller grows as it keeps outlines); with several ``workers``, the next few outlined at once in
    threads (GrabCut, most of the time, runs outside the GIL), some of them in vain."""
    if workers <= 1:
        for peak in peaks:
            if not taken[peak[2], peak[1]]:
                yield peak, predictor.predict([Click(True, float(peak[1]), float(peak[2]))])
        return
    with ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(peaks), 4 * workers):
            batch = [p for p in peaks[start : start + 4 * workers] if not taken[p[2], p[1]]]
            clicks = [[Click(True, float(p[1]), float(p[2]))] for p in batch]
            yield from zip(batch, pool.map(predictor.predict, clicks), strict=True)


def _typical(template: ClassTemplate, reference, image: np.ndarray, scores: np.ndarray, config) -> float:
    """The median of the best correlation inside each reviewed object of the template's class, on
    its own image (``scores`` when that is ``image``); 1 where too low or none is searched."""
    inside = []
    for ref_image, masks, labels in reference:
        own = [np.asarray(m, bool) for m, k in zip(masks, labels, strict=True) if k == template.label]
        if own:
            ref_scores = scores if ref_image is image else correlation_map(ref_image, template, config)
            inside += [float(ref_scores[m].max()) for m in own if m.any()]
    typical = float(np.median(inside)) if inside else 1.0
    return typical if typical >= config.min_score else 1.0


def objects_like(
    image: np.ndarray,
    reviewed: Sequence[tuple[np.ndarray, np.ndarray, Sequence[int]]],
    taken: np.ndarray | None = None,
    most: int | None = None,
) -> list[Prediction] | None:
    """:func:`find_like` with the exemplars of ``reviewed`` (image, masks, labels), scored relative
    to what those objects reach on their own images (``find_like``'s ``reference``); None when they
    hold no object to look like."""
    exemplars = Exemplars.from_reviewed(reviewed)
    if exemplars is None:
        return None
    return find_like(image, exemplars, taken=taken, most=most, reference=reviewed)


def objects_like_these(image: np.ndarray, masks: np.ndarray, labels: Sequence[int]) -> list[Prediction]:
    """The objects of ``image`` like its own ``masks`` (M, H, W) with ``labels``, outside them, best
    match first, at most :data:`FIND_MOST` (istr-app's Find like these, and the gate's "click a few,
    then find the rest"), scored relative to those (``find_like``'s ``reference``); none when
    ``masks`` is empty."""
    if not len(masks):
        return []
    masks = np.asarray(masks, bool)
    return objects_like(image, [(image, masks, labels)], taken=masks.any(0), most=FIND_MOST) or []
