"""From raw head outputs to torchvision-style detections; no NMS (the set loss makes it unneeded)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..ops.masks import paste_masks


def select_detections(
    class_logits: Tensor, boxes: Tensor, k: int, score_threshold: float, class_pairs: bool = False
):
    """The k best proposals of one image, each with its most likely class.

    One detection per proposal: a ranking of (proposal, class) pairs shows an annotator the same mask
    once per plausible class, and a model just re-headed for new classes (every row a copy of
    ``object``) emits each object K times with equal scores, which fills ``k`` with duplicates and
    leaves objects out. ``class_pairs=True`` ranks the pairs instead, as COCO evaluation of the
    DETR family (and the ISTR paper) does: a second guess at the class still earns AP there.

    class_logits (N, K), boxes (N, 4) -> (scores (k,), labels (k,), boxes (k, 4), proposal idx (k,)).
    """
    if class_pairs:
        num_classes = class_logits.shape[-1]
        scores, flat = class_logits.sigmoid().flatten().topk(min(k, class_logits.numel()))
        proposal, labels = torch.div(flat, num_classes, rounding_mode="floor"), flat % num_classes
    else:
        scores, labels = class_logits.sigmoid().max(dim=-1)
        scores, proposal = scores.topk(min(k, scores.numel()))
        labels = labels[proposal]
    keep = scores > score_threshold
    scores, labels, proposal = scores[keep], labels[keep], proposal[keep]
    return scores, labels, boxes[proposal], proposal


def postprocess(
    class_logits: Tensor,
    boxes: Tensor,
    mask_codes: Callable[[int, Tensor], Tensor],
    codec: nn.Module,
    resized_sizes: list[tuple[int, int]],
    original_sizes: list[tuple[int, int]],
    detections_per_image: int,
    score_threshold: float,
    class_pairs: bool = False,
) -> list[dict[str, Tensor]]:
    """Last-stage outputs (B, N, ...) -> per image {boxes (n,4) xyxy original pixels, labels (n,),
    scores (n,), masks (n,1,H,W) float in [0,1]}.

    ``mask_codes(image, proposals)`` returns the (k, D) codes of the kept proposals: codes are
    predicted, decoded and pasted only for the kept detections."""
    results = []
    for b, ((h, w), (oh, ow)) in enumerate(zip(resized_sizes, original_sizes, strict=True)):
        scores, labels, det_boxes, proposal = select_detections(
            class_logits[b], boxes[b], detections_per_image, score_threshold, class_pairs
        )
        ratio = det_boxes.new_tensor([ow / w, oh / h, ow / w, oh / h])
        paste_boxes = det_boxes.float() * ratio  # unclipped: the mask was predicted in this box
        det_boxes = paste_boxes.clone()
        det_boxes[:, 0::2] = det_boxes[:, 0::2].clamp(0, ow)
        det_boxes[:, 1::2] = det_boxes[:, 1::2].clamp(0, oh)
        box_masks = codec.decode(mask_codes(b, proposal))
        masks = paste_masks(box_masks, paste_boxes, oh, ow)[:, None]
        results.append({"boxes": det_boxes, "labels": labels, "scores": scores.float(), "masks": masks})
    return results
