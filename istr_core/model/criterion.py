"""The ISTR set criterion: match every stage's predictions to the ground truth and sum the weighted
losses over stages (deep supervision)."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

from . import losses as L
from .matcher import HungarianMatcher, MatchTarget


class SetCriterion(nn.Module):
    """Returns {loss_class, loss_l1, loss_giou, loss_embedding, loss_dice}, each already weighted and
    summed over all stages; the training objective is the sum of the values."""

    def __init__(
        self,
        matcher: HungarianMatcher,
        class_weight: float,
        l1_weight: float,
        giou_weight: float,
        embedding_weight: float,
        dice_weight: float,
        focal_alpha: float,
        focal_gamma: float,
        intermediate_copies: int = 1,
        aux_copies: int = 4,
    ):
        super().__init__()
        self.matcher = matcher
        self.intermediate_copies, self.aux_copies = intermediate_copies, aux_copies
        self.weights = {
            "loss_class": class_weight,
            "loss_l1": l1_weight,
            "loss_giou": giou_weight,
            "loss_embedding": embedding_weight,
            "loss_dice": dice_weight,
        }
        self.alpha, self.gamma = focal_alpha, focal_gamma

    def forward(
        self, stage_outputs: list, targets: list[MatchTarget], codec: nn.Module, copies: int | None = None
    ) -> dict[str, Tensor]:
        """``copies`` given: every stage matches one-to-``copies`` (the auxiliary group of hybrid
        matching); else the last stage is one-to-one and earlier ones use ``intermediate_copies``."""
        last = len(stage_outputs) - 1
        matches = [
            self.matcher(
                out.class_logits,
                out.boxes,
                out.mask_codes,
                targets,
                copies if copies is not None else (1 if i == last else self.intermediate_copies),
            )
            for i, out in enumerate(stage_outputs)
        ]
        return self._weighted_sum(stage_outputs, targets, matches, codec)

    def fixed_match_losses(
        self,
        stage_outputs: list,
        targets: list[MatchTarget],
        matches: list[tuple[Tensor, Tensor]],
        codec: nn.Module,
    ) -> dict[str, Tensor]:
        """The same weighted losses for queries whose targets are known in advance (denoising queries):
        ``matches`` per image (query indices, target indices), the same at every stage; every other
        query's class target is no object."""
        return self._weighted_sum(stage_outputs, targets, [matches] * len(stage_outputs), codec)

    def _weighted_sum(
        self, stage_outputs: list, targets: list[MatchTarget], stage_matches: list, codec: nn.Module
    ) -> dict[str, Tensor]:
        num_instances = self._num_instances(targets, stage_outputs[0].class_logits.device)
        totals = {k: stage_outputs[0].class_logits.new_zeros((), dtype=torch.float32) for k in self.weights}
        for out, matches in zip(stage_outputs, stage_matches, strict=True):
            for name, value in self._stage_losses(out, targets, matches, codec).items():
                totals[name] = totals[name] + self.weights[name] * value / num_instances
        return totals

    def _stage_losses(self, out, targets: list[MatchTarget], matches, codec: nn.Module) -> dict[str, Tensor]:
        b, n, k = out.class_logits.shape
        device = out.class_logits.device
        target_classes = torch.full((b, n), k, dtype=torch.int64, device=device)
        src_boxes, tgt_boxes, sizes, src_codes, tgt_codes, tgt_masks = [], [], [], [], [], []
        for i, (t, (src, tgt)) in enumerate(zip(targets, matches, strict=True)):
            src, tgt = src.to(device), tgt.to(device)
            target_classes[i, src] = t.labels[tgt]
            src_boxes.append(out.boxes[i, src])
            tgt_boxes.append(t.boxes[tgt])
            sizes.append(t.image_size.expand(len(src), 4))
            src_codes.append(out.mask_codes[i, src])
            tgt_codes.append(t.codes[tgt])
            tgt_masks.append(t.box_masks[tgt])
        src_boxes, tgt_boxes, sizes = torch.cat(src_boxes), torch.cat(tgt_boxes), torch.cat(sizes)
        if out.codes_for is not None:  # mask codes with gradient for the matched proposals only
            src_codes = [out.codes_for([src.to(device) for src, _ in matches])]
        src_codes, tgt_codes, tgt_masks = torch.cat(src_codes), torch.cat(tgt_codes), torch.cat(tgt_masks)
        return {
            "loss_class": L.focal_class_loss(
                out.class_logits.flatten(0, 1), target_classes.flatten(), self.alpha, self.gamma
            ),
            "loss_l1": L.l1_box_loss(src_boxes, tgt_boxes, sizes),
            "loss_giou": L.giou_loss(src_boxes, tgt_boxes),
            "loss_embedding": L.embedding_loss(src_codes, tgt_codes),
            "loss_dice": L.dice_loss(codec.decode(src_codes), tgt_masks),
        }

    @staticmethod
    def _num_instances(targets: list[MatchTarget], device) -> float:
        count = torch.tensor([float(sum(len(t.labels) for t in targets))], device=device)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(count)
            count /= dist.get_world_size()
        return max(count.item(), 1.0)
