"""``ClickPredictor``: a mask from clicks (and an optional box or starting mask), SAM-style.

``set_image`` runs the backbone once and caches its features together with the model's own
whole-image candidates (every learned proposal through the refinement stages); ``predict`` then
costs only the light part: prompted proposal boxes around the clicks go through the refinement
stages on the cached features, every candidate is scored by how well its mask agrees with the
clicks, and the best one is pasted. The weight-free path runs beside it: where its mask and the
model's agree (IoU >= WAND_AGREEMENT) its sharper edges are returned; otherwise the model's mask,
with the clicks it still disagrees with fixed by the weight-free path (grow / carve with the magic
wand). All clicks are finally enforced as hard constraints. Without a model (or on a model whose
candidates all miss a positive click) the weight-free path alone answers.

Coordinates: clicks and boxes in original image pixels (x, y); the head works in the resized image
the model's batcher makes, boxes absolute xyxy there.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import Tensor

from ..data.images import image_to_tensor
from ..ops.boxes import box_iou
from ..ops.masks import paste_masks
from .clicker import Click, mask_iou
from .weightfree import WeightFreeSegmenter, enforce_clicks

PROMPT_SIZES = (0.06, 0.1, 0.16, 0.25, 0.4)  # prompt box sides, as fractions of the resized short side
PROMPT_ASPECTS = (0.6, 1.0, 1.6)
MIN_BOX = 3  # px: the box tool's smallest box
# No minimum model score: measured on 60 droplets train.json objects, default model, NoC@85/NoC@90
# 2.00/5.43 at 0, 1.82/6.55 at 0.3, 1.18/10.67 at 0.5 (then it is the weight-free path); fine-tuned
# model: 1.22/7.95, 1.22/8.02, 1.22/8.50
MIN_AGREEMENT = 0.5  # a candidate must give a positive click at least this mask probability
SCORE_WEIGHT = 0.5  # weight of the model's confidence (log) beside the clicks' agreement (log)
PREV_BONUS = 1.0  # log-odds head start of the mask being refined over the model's candidates
# IoU with the model's mask above which the weight-free mask (sharper) wins. Measured on 60 droplets
# train.json objects against "the weight-free mask unless its wand found only specks": NoC@85/NoC@90
# 1.22/7.95 vs 1.18/10.35 (fine-tuned model), 2.00/5.43 vs 1.18/10.23 (default model)
WAND_AGREEMENT = 0.5
# Prompt boxes' proposal features are the mean learned feature (a generic "object" query). Measured
# on 25 droplets train.json objects (fine-tuned model): NoC@85 3.0 (mean) vs 3.8 (the feature of the
# nearest learned box) vs 3.1 (no prompts, learned proposals only), before the weight-free mask joined in


class ClickPredictor:
    """One image at a time: ``set_image`` (slow, once; fine in a background thread), then
    ``predict`` per click (fast). ``segmenter`` None = the weight-free path only."""

    def __init__(self, segmenter=None):
        self.segmenter = segmenter
        self.image: np.ndarray | None = None
        self.weightfree: WeightFreeSegmenter | None = None
        self._encoded = None
        self._image_key: tuple | None = None

    @property
    def model(self):
        return None if self.segmenter is None else self.segmenter.model

    @torch.inference_mode()
    def set_image(self, image: np.ndarray) -> None:
        """Cache what every click reuses: the weight-free path's grey image and, with a model, the
        backbone features and the whole-image candidates (boxes, scores, box masks). The same pixels
        again (a second box on one image) keep the cache."""
        image = np.ascontiguousarray(image)
        key = (image.shape, hashlib.blake2b(image.data, digest_size=16).digest())
        if key == self._image_key:
            return
        self.image, self._image_key = image, key
        self.weightfree = WeightFreeSegmenter(self.image)
        self._encoded = None
        if self.model is None:
            return
        self._encoded = self.model.encode([image_to_tensor(self.image).to(self.segmenter.device)])
        self._learned = self._run_head(*self.model.learned_proposals(self._encoded.sizes))

    @torch.inference_mode()
    def _run_head(self, boxes: Tensor, feats: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Proposals (1, K, 4) xyxy resized pixels and features (1, K, C) through every stage ->
        (boxes (K, 4) resized xyxy, scores (K,), box masks (K, S, S) in [0, 1])."""
        last = self.model.refine(self._encoded, boxes, feats, "last")[-1]
        scores = last.class_logits[0].sigmoid().max(-1).values
        return last.boxes[0].float(), scores.float(), self.model.codec.decode(last.mask_codes[0]).float()

    def predict(
        self,
        clicks: list[Click],
        box: tuple[float, float, float, float] | None = None,
        prev_mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """(H, W) bool mask for ``clicks`` (in order), an optional box prompt (xyxy) and an optional
        starting mask (an instance being refined). Clicks outside the image are ignored."""
        if self.image is None:
            raise RuntimeError("call set_image(image) before predict")
        h, w = self.image.shape[:2]
        clicks = [c for c in clicks if 0 <= c.x < w and 0 <= c.y < h]
        if self._encoded is None or (not any(c.is_positive for c in clicks) and box is None):
            return self.weightfree.predict(clicks, box, prev_mask)
        mask = self._model_mask(clicks, box, prev_mask)
        fallback = self.weightfree.predict(clicks, box, prev_mask)
        if mask is None or mask_iou(mask, fallback) >= WAND_AGREEMENT:
            return fallback
        wrong = [c for c in clicks if bool(mask[int(c.y), int(c.x)]) != c.is_positive]
        if wrong:
            mask = self.weightfree.predict(wrong, None, mask)
        return enforce_clicks(mask, clicks)

    @torch.inference_mode()
    def _model_mask(self, clicks, box, prev_mask) -> np.ndarray | None:
        """The best-agreeing candidate's full-image mask, or None when every candidate misses a
        positive click (then the model has not seen this kind of object: the weight-free path)."""
        (rh, rw), (h, w) = self._encoded.sizes[0], self.image.shape[:2]
        scale = torch.tensor([rw / w, rh / h, rw / w, rh / h])
        prompts = prompt_boxes(clicks, box, prev_mask, rh / h, rw / w, min(rh, rw))
        boxes, scores, masks = self._learned
        if len(prompts):
            feats = self.prompt_features(prompts)
            pb, ps, pm = self._run_head(prompts[None], feats[None])
            boxes, scores, masks = torch.cat([boxes, pb]), torch.cat([scores, ps]), torch.cat([masks, pm])
        pts = torch.tensor([[(c.x + 0.5) * rw / w, (c.y + 0.5) * rh / h] for c in clicks]).reshape(-1, 2)
        sign = torch.tensor([c.is_positive for c in clicks], dtype=torch.bool)
        p = sample_box_masks(masks, boxes, pts).clamp(0.01, 0.99)
        agree = torch.where(sign[None], p, 1 - p).log().sum(1) + SCORE_WEIGHT * scores.clamp_min(1e-3).log()
        if box is not None:  # a drag box: the candidate should fill it
            drag = (
                torch.tensor([sorted((box[0], box[2])) + sorted((box[1], box[3]))])[:, [0, 2, 1, 3]] * scale
            )
            agree = agree + 4.0 * box_iou(boxes, drag.float())[:, 0].clamp_min(1e-3).log()
        best = int(agree.argmax())
        if prev_mask is not None:
            inside = torch.tensor([bool(prev_mask[int(c.y), int(c.x)]) == c.is_positive for c in clicks])
            prev_agree = torch.where(inside, 0.99, 0.01).log().sum() + PREV_BONUS
            if prev_agree >= agree[best]:
                return prev_mask.astype(bool)
        if sign.any() and float(p[best][sign].min()) < MIN_AGREEMENT:
            return None
        full = paste_masks(masks[best : best + 1], boxes[best : best + 1] / scale, h, w)[0]
        return (full > 0.5).numpy()

    def prompt_features(self, prompts: Tensor) -> Tensor:
        """Proposal features (K, C) for prompt boxes (K, 4): the mean learned feature, a generic
        "object" query (see the note at the top of this module)."""
        return self.model.proposal_features.weight.mean(0, keepdim=True).expand(len(prompts), -1)

    def predict_box(self, box: tuple[float, float, float, float]) -> np.ndarray | None:
        """The box tool: the object a user boxed (xyxy), clipped to the box; None when nothing is
        found or the box is under MIN_BOX pixels a side (a click, not a drag). With a model the box is
        a prompt as in :meth:`predict`; without one, GrabCut in it."""
        x0, x1 = sorted((int(round(box[0])), int(round(box[2]))))
        y0, y1 = sorted((int(round(box[1])), int(round(box[3]))))
        x0, x1, y0, y1 = max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)
        if x1 - x0 < MIN_BOX or y1 - y0 < MIN_BOX:
            return None
        mask = self.predict([], box=box)
        clipped = np.zeros(mask.shape, bool)
        clipped[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
        return clipped if clipped.any() else None


def sample_box_masks(masks: Tensor, boxes: Tensor, points: Tensor) -> Tensor:
    """Box masks (K, S, S) over boxes (K, 4) xyxy, sampled (nearest) at points (P, 2) (x, y) in the
    same frame -> (K, P); 0 outside a box."""
    s = masks.shape[-1]
    x0, y0, x1, y1 = boxes.unbind(1)
    u = (points[None, :, 0] - x0[:, None]) / (x1 - x0).clamp_min(1e-3)[:, None]
    v = (points[None, :, 1] - y0[:, None]) / (y1 - y0).clamp_min(1e-3)[:, None]
    inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    iu, iv = (u.clamp(0, 1 - 1e-6) * s).long(), (v.clamp(0, 1 - 1e-6) * s).long()
    k = torch.arange(len(masks))[:, None].expand_as(iu)
    return torch.where(inside, masks[k, iv, iu], torch.zeros(()))


def prompt_boxes(clicks, box, prev_mask, sy: float, sx: float, short: int) -> Tensor:
    """Prompt proposals (K, 4) xyxy in the resized image: boxes of several sizes and shapes centred
    on the first positive click, the padded box around all positive clicks, the drag box and the
    starting mask's box."""
    out = []
    pos = [(c.x * sx, c.y * sy) for c in clicks if c.is_positive]
    if pos:
        cx, cy = pos[0]
        for frac in PROMPT_SIZES:
            for aspect in PROMPT_ASPECTS:
                bw, bh = frac * short * aspect**0.5, frac * short / aspect**0.5
                out.append([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
    if len(pos) > 1:
        xs, ys = [p[0] for p in pos], [p[1] for p in pos]
        pad = 0.15 * max(max(xs) - min(xs), max(ys) - min(ys), 8)
        out.append([min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad])
    if box is not None:
        x0, x1 = sorted((box[0] * sx, box[2] * sx))
        y0, y1 = sorted((box[1] * sy, box[3] * sy))
        out.append([x0, y0, x1, y1])
    if prev_mask is not None and prev_mask.any():
        yy, xx = np.nonzero(prev_mask)
        out.append([xx.min() * sx, yy.min() * sy, (xx.max() + 1) * sx, (yy.max() + 1) * sy])
    return torch.tensor(out, dtype=torch.float32).reshape(-1, 4)
