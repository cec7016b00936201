"""The ISTR refinement head: N recurrent stages that refine proposal boxes, features and mask codes.

Each stage (Sparse R-CNN style, as in the paper):
  1. multi-head self-attention among the proposals of one image;
  2. dynamic convolution: each proposal's feature generates the weights of a 2-layer 1x1 conv that
     is applied to its own RoI features (7x7), letting every instance attend to its region;
  3. an FFN;
  4. predictors: class logits, box deltas (applied to the stage's input boxes), mask embedding.
The mask embedding additionally sees RoI features at the mask pooler resolution (e.g. 28x28) through
a second dynamic convolution, so fine shape detail is not squeezed through a 7x7 grid.
Boxes are detached between stages, as in Sparse R-CNN.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..ops.activations import ELU
from ..ops.boxes import apply_deltas
from ..ops.roi_align import FlatFeatures, MultiScaleRoIAlign

FEATURE_NAMES = ["0", "1", "2", "3"]


class DynamicConv(nn.Module):
    """Instance-conditioned 1x1 convs on RoI features -> one vector per proposal."""

    def __init__(self, hidden_dim: int, dim_dynamic: int, num_dynamic: int, pooler_size: int):
        super().__init__()
        if num_dynamic != 2:
            raise ValueError("DynamicConv implements the paper's two dynamic layers (num_dynamic=2)")
        self.hidden_dim, self.dim_dynamic = hidden_dim, dim_dynamic
        self.num_params = hidden_dim * dim_dynamic
        self.dynamic_layer = nn.Linear(hidden_dim, num_dynamic * self.num_params)
        self.norm1 = nn.LayerNorm(dim_dynamic)
        self.norm2 = nn.LayerNorm(hidden_dim)
        self.out_layer = nn.Linear(hidden_dim * pooler_size**2, hidden_dim)
        self.norm3 = nn.LayerNorm(hidden_dim)
        self.activation = ELU()

    def forward(self, pro_features: Tensor, roi_features: Tensor) -> Tensor:
        """pro_features (M, C); roi_features (M, P*P, C) -> (M, C), M = batch x proposals."""
        params = self.dynamic_layer(pro_features)
        param1 = params[:, : self.num_params].view(-1, self.hidden_dim, self.dim_dynamic)
        param2 = params[:, self.num_params :].view(-1, self.dim_dynamic, self.hidden_dim)
        x = self.activation(self.norm1(torch.bmm(roi_features, param1)))
        x = self.activation(self.norm2(torch.bmm(x, param2)))
        return self.activation(self.norm3(self.out_layer(x.flatten(1))))


def _mlp_stack(dim: int, num_layers: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(num_layers):
        layers += [nn.Linear(dim, dim, bias=False), nn.LayerNorm(dim), ELU()]
    return nn.Sequential(*layers)


class MaskFeatureBranch(nn.Module):
    """High-resolution RoI features (M, C, P, P) -> per-proposal vector, via strided convs to the box
    pooler size and a dynamic conv conditioned on the proposal feature."""

    def __init__(self, hidden_dim: int, dim_dynamic: int, mask_pooler_size: int, box_pooler_size: int):
        super().__init__()
        convs: list[nn.Module] = []
        size = mask_pooler_size
        while size > box_pooler_size:
            convs += [
                nn.Conv2d(hidden_dim, hidden_dim, 3, stride=2, padding=1),
                nn.GroupNorm(32 if hidden_dim % 32 == 0 else 8, hidden_dim),
                nn.ReLU(inplace=True),
            ]
            size = (size + 1) // 2
        self.reduce = nn.Sequential(*convs)
        self.dynamic = DynamicConv(hidden_dim, dim_dynamic, 2, size)

    def forward(self, pro_features: Tensor, roi_features: Tensor) -> Tensor:
        x = self.reduce(roi_features)
        return self.dynamic(pro_features, x.flatten(2).transpose(1, 2))


@dataclass
class StageOutput:
    """One stage's predictions. Shapes: B images, N proposals, K classes, D embedding dims.

    class_logits (B, N, K); boxes (B, N, 4) absolute xyxy in the resized image; mask_codes (B, N, D).

    At inference the last stage may defer its mask codes (``mask_codes`` None): then ``roi_boxes``
    (B, N, 4, the stage's input boxes) and ``features`` (B, N, C, its refined proposal features) are
    kept so that :meth:`DynamicHead.deferred_mask_codes` computes codes for the kept detections only.

    In training with ``mask_stages="matched"``, ``mask_codes`` are computed without gradient (the
    matcher needs every proposal's code, the loss only the matched ones') and ``codes_for`` recomputes
    them with gradient for the proposals the criterion names: ``codes_for([idx_0, idx_1, ...])``
    (one index tensor per image) -> (sum of lengths, D), in that order.
    """

    class_logits: Tensor
    boxes: Tensor
    mask_codes: Tensor | None
    roi_boxes: Tensor | None = None
    features: Tensor | None = None
    codes_for: Callable[[list[Tensor]], Tensor] | None = None

    def proposals(self, start: int, stop: int | None = None) -> StageOutput:
        """The predictions of proposals ``start:stop`` (one group in hybrid matching)."""
        codes_for = None
        if self.codes_for is not None:
            parent = self.codes_for

            def codes_for(per_image: list[Tensor]) -> Tensor:
                return parent([idx + start for idx in per_image])

        return StageOutput(
            self.class_logits[:, start:stop],
            self.boxes[:, start:stop],
            self.mask_codes[:, start:stop],
            codes_for=codes_for,
        )


class RefinementStage(nn.Module):
    def __init__(
        self,
        num_classes: int,
        hidden_dim: int,
        num_heads: int,
        dim_feedforward: int,
        dim_dynamic: int,
        num_dynamic: int,
        box_pooler_size: int,
        mask_pooler_size: int,
        mask_dim: int,
        dropout: float = 0.0,
        num_cls_layers: int = 1,
        num_reg_layers: int = 3,
        num_mask_layers: int = 3,
    ):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(hidden_dim, num_heads, dropout=dropout, batch_first=True)
        self.inst_interact = DynamicConv(hidden_dim, dim_dynamic, num_dynamic, box_pooler_size)
        self.ffn = nn.Sequential(
            nn.Linear(hidden_dim, dim_feedforward),
            ELU(),
            nn.Dropout(dropout),
            nn.Linear(dim_feedforward, hidden_dim),
        )
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(hidden_dim) for _ in range(3))
        self.dropout = nn.Dropout(dropout)
        self.mask_branch = (
            MaskFeatureBranch(hidden_dim, dim_dynamic, mask_pooler_size, box_pooler_size)
            if mask_pooler_size > 0
            else None
        )
        self.cls_tower = _mlp_stack(hidden_dim, num_cls_layers)
        self.reg_tower = _mlp_stack(hidden_dim, num_reg_layers)
        self.mask_tower = _mlp_stack(hidden_dim, num_mask_layers)
        self.class_logits = nn.Linear(hidden_dim, num_classes)
        self.box_deltas = nn.Linear(hidden_dim, 4)
        self.mask_codes = nn.Linear(hidden_dim, mask_dim)

    def forward(
        self,
        pro_features: Tensor,
        boxes: Tensor,
        box_rois: Tensor,
        mask_rois: Tensor | None,
        attn_mask: Tensor | None = None,
        defer_masks: bool = False,
        detach_masks: bool = False,
    ) -> tuple[StageOutput, Tensor]:
        """pro_features (B, N, C); boxes (B, N, 4) xyxy; box_rois (B*N, C, P, P);
        mask_rois (B*N, C, Pm, Pm) or None; attn_mask (N, N) bool, True = may not attend.
        ``defer_masks`` leaves the mask codes to :meth:`predict_mask_codes` (inference: only the kept
        detections need them, and the high-resolution mask branch is the head's costliest part).
        ``detach_masks`` computes them without gradient and keeps what :meth:`predict_mask_codes`
        needs to redo it with gradient for the matched proposals (training).
        Returns predictions and the refined features (B, N, C)."""
        b, n, c = pro_features.shape
        attn = self.self_attn(
            pro_features, pro_features, pro_features, attn_mask=attn_mask, need_weights=False
        )[0]
        x = self.norm1(pro_features + self.dropout(attn)).reshape(b * n, c)
        x = self.norm2(x + self.dropout(self.inst_interact(x, box_rois.flatten(2).transpose(1, 2))))
        obj = self.norm3(x + self.dropout(self.ffn(x)))
        logits = self.class_logits(self.cls_tower(obj))
        deltas = self.box_deltas(self.reg_tower(obj))
        new_boxes = apply_deltas(deltas, boxes.reshape(-1, 4))
        if defer_masks:
            out = StageOutput(logits.view(b, n, -1), new_boxes.view(b, n, 4), None, boxes, obj.view(b, n, c))
        elif detach_masks:
            with torch.no_grad():
                codes = self.predict_mask_codes(obj.detach(), mask_rois)
            out = StageOutput(
                logits.view(b, n, -1), new_boxes.view(b, n, 4), codes.view(b, n, -1), boxes, obj.view(b, n, c)
            )
        else:
            codes = self.predict_mask_codes(obj, mask_rois)
            out = StageOutput(logits.view(b, n, -1), new_boxes.view(b, n, 4), codes.view(b, n, -1))
        return out, obj.view(b, n, c)

    def predict_mask_codes(self, obj: Tensor, mask_rois: Tensor | None) -> Tensor:
        """Refined features (M, C) and their mask RoI features (M, C, Pm, Pm) or None -> codes (M, D)."""
        mask_feature = (
            obj if self.mask_branch is None or mask_rois is None else obj + self.mask_branch(obj, mask_rois)
        )
        return self.mask_codes(self.mask_tower(mask_feature))


class DynamicHead(nn.Module):
    """``num_stages`` independent :class:`RefinementStage`s applied in sequence."""

    def __init__(
        self,
        stage: RefinementStage,
        num_stages: int,
        box_pooler_size: int,
        mask_pooler_size: int,
        prior_prob: float = 0.01,
    ):
        super().__init__()
        self.box_pooler = MultiScaleRoIAlign(FEATURE_NAMES, box_pooler_size, sampling_ratio=2)
        self.mask_pooler = (
            MultiScaleRoIAlign(FEATURE_NAMES, mask_pooler_size, sampling_ratio=2)
            if mask_pooler_size > 0
            else None
        )
        self._reset_parameters(stage, prior_prob)
        self.stages = nn.ModuleList(copy.deepcopy(stage) for _ in range(num_stages))

    @staticmethod
    def _reset_parameters(stage: RefinementStage, prior_prob: float) -> None:
        for p in stage.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        # focal-loss prior: every class starts at probability prior_prob, so the loss starts sane
        nn.init.constant_(stage.class_logits.bias, -math.log((1 - prior_prob) / prior_prob))

    def forward(
        self,
        features: dict[str, Tensor] | FlatFeatures,
        boxes: Tensor,
        pro_features: Tensor,
        image_sizes: list[tuple[int, int]],
        mask_stages: str = "all",
        attn_mask: Tensor | None = None,
    ) -> list[StageOutput]:
        """features: FPN maps, best laid out once by ``flatten_features`` (ISTR.forward does; a dict is
        laid out again by each pooler call); boxes (B, N, 4) xyxy; pro_features (B, N, C); attn_mask
        (N, N) bool keeps groups of proposals from seeing each other (hybrid matching).

        ``mask_stages``: "all" computes mask codes at every stage (training: deep supervision);
        "matched" (training) gives the same losses and gradients but runs the high-resolution mask
        branch without gradient for all proposals (the matcher's mask cost) and with gradient only for
        the matched ones (``StageOutput.codes_for``): the backward pass and the stored activations of
        the mask branch shrink from all proposals to the few matched; "last" skips the mask RoI
        pooling of earlier stages; "deferred" (inference) also leaves the last stage's codes to
        :meth:`deferred_mask_codes`, for the kept detections only.
        """
        if mask_stages not in ("all", "matched", "last", "deferred"):
            raise ValueError(
                f"mask_stages must be 'all', 'matched', 'last' or 'deferred', not {mask_stages!r}"
            )
        outputs = []
        for i, stage in enumerate(self.stages):
            last = i == len(self.stages) - 1
            box_list = list(boxes.unbind(0))
            box_rois = self.box_pooler(features, box_list, image_sizes)
            defer = last and mask_stages == "deferred" and self.mask_pooler is not None
            detach = mask_stages == "matched" and self.mask_pooler is not None
            use_mask = (
                self.mask_pooler is not None and not defer and (mask_stages in ("all", "matched") or last)
            )
            mask_rois = None
            if use_mask:
                with torch.no_grad() if detach else contextlib.nullcontext():
                    mask_rois = self.mask_pooler(features, box_list, image_sizes)
            out, pro_features = stage(
                pro_features, boxes, box_rois, mask_rois, attn_mask, defer_masks=defer, detach_masks=detach
            )
            if detach:
                out.codes_for = functools.partial(
                    self._codes_of, features, stage, out, image_sizes=image_sizes
                )
            outputs.append(out)
            boxes = out.boxes.detach()
        return outputs

    def _codes_of(
        self,
        features: dict[str, Tensor] | FlatFeatures,
        stage: RefinementStage,
        out: StageOutput,
        per_image: list[Tensor],
        image_sizes: list[tuple[int, int]],
    ) -> Tensor:
        """Mask codes of proposals ``per_image[b]`` of each image b, from a stage output that kept its
        input boxes and features (``roi_boxes``, ``features``): (sum of lengths, D), in that order."""
        idx = [i.to(out.roi_boxes.device) for i in per_image]
        obj = torch.cat([out.features[b, i] for b, i in enumerate(idx)])
        if obj.shape[0] == 0:
            return obj.new_zeros((0, stage.mask_codes.out_features))
        rois = [out.roi_boxes[b, i] for b, i in enumerate(idx)]
        return stage.predict_mask_codes(obj, self.mask_pooler(features, rois, image_sizes))

    def deferred_mask_codes(
        self,
        features: dict[str, Tensor] | FlatFeatures,
        last: StageOutput,
        image: int,
        proposals: Tensor,
        image_sizes: list[tuple[int, int]],
    ) -> Tensor:
        """Mask codes (k, D) of ``proposals`` (k,) of image ``image`` from a last stage run with
        ``mask_stages="deferred"``; equal to what the eager path computes for them."""
        if last.mask_codes is not None:
            return last.mask_codes[image, proposals]
        empty = proposals.new_zeros((0,))
        per_image = [proposals if b == image else empty for b in range(len(image_sizes))]
        return self._codes_of(features, self.stages[-1], last, per_image, image_sizes)
