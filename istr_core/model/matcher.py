"""Hungarian matching between proposals and ground-truth instances (one-to-one, per image).

The cost of assigning proposal i to instance j adds, as in ISTR:
  focal class cost   alpha (1-p)^g (-log p) - (1-alpha) p^g (-log(1-p))   for the instance's class
  L1 box cost        |box_i - box_j|_1 on boxes normalised by the image size
  GIoU cost          -GIoU(box_i, box_j)
  mask cost          -(cos(code_i, code_j) + 1) / 2 on mask embeddings
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from ..ops.boxes import generalized_box_iou


@dataclass
class MatchTarget:
    """One image's ground truth as the matcher and the criterion see it.

    labels (M,) int64 in [0, K); boxes (M, 4) absolute xyxy in the resized image; box_masks (M, S, S)
    binary masks cropped to their box; codes (M, D) their embeddings; image_size (4,) = (w, h, w, h).
    """

    labels: Tensor
    boxes: Tensor
    box_masks: Tensor
    codes: Tensor
    image_size: Tensor


class HungarianMatcher:
    def __init__(
        self,
        class_cost: float = 2.0,
        l1_cost: float = 5.0,
        giou_cost: float = 2.0,
        mask_cost: float = 1.0,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
    ):
        self.class_cost, self.l1_cost, self.giou_cost, self.mask_cost = (
            class_cost,
            l1_cost,
            giou_cost,
            mask_cost,
        )
        self.alpha, self.gamma = focal_alpha, focal_gamma

    @torch.no_grad()
    def cost_matrix(self, logits: Tensor, boxes: Tensor, codes: Tensor, target: MatchTarget) -> Tensor:
        """logits (N, K), boxes (N, 4), codes (N, D) of one image -> cost (N, M)."""
        prob = logits.float().sigmoid()[:, target.labels]
        pos = self.alpha * (1 - prob) ** self.gamma * -(prob + 1e-8).log()
        neg = (1 - self.alpha) * prob**self.gamma * -(1 - prob + 1e-8).log()
        cost = self.class_cost * (pos - neg)
        size = target.image_size
        cost = cost + self.l1_cost * torch.cdist(boxes.float() / size, target.boxes / size, p=1)
        cost = cost - self.giou_cost * generalized_box_iou(boxes.float(), target.boxes)
        cos = (
            torch.nn.functional.normalize(codes.float(), dim=1)
            @ torch.nn.functional.normalize(target.codes, dim=1).T
        )
        return cost - self.mask_cost * (cos + 1) / 2

    @torch.no_grad()
    def __call__(
        self, logits: Tensor, boxes: Tensor, codes: Tensor, targets: list[MatchTarget], copies: int = 1
    ) -> list[tuple[Tensor, Tensor]]:
        """Batched (B, N, ...) predictions -> per image (proposal indices, target indices), sorted by
        proposal index.

        ``copies`` = 1 is ISTR's one-to-one matching (min(N, M) pairs). ``copies`` = k > 1 lets each
        instance take up to k proposals (the target columns are repeated k times in the Hungarian
        problem); the criterion uses it on intermediate stages only, where more positives per
        instance speed up learning on small datasets while the last stage stays one-to-one.
        """
        matches = []
        for b, target in enumerate(targets):
            m = len(target.labels)
            if m == 0:
                empty = torch.empty(0, dtype=torch.int64)
                matches.append((empty, empty))
                continue
            cost = self.cost_matrix(logits[b], boxes[b], codes[b], target)
            cost = torch.nan_to_num(cost, nan=1e6, posinf=1e6, neginf=-1e6).cpu()
            k = max(1, min(copies, cost.shape[0] // m))
            rows, cols = linear_sum_assignment(cost.repeat(1, k).numpy())
            matches.append(
                (torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols % m, dtype=torch.int64))
            )
        return matches
