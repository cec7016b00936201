"""The ISTR model with torchvision's detection interface.

train:  model(images, targets) -> {loss_class, loss_l1, loss_giou, loss_embedding, loss_dice}
eval:   model(images) -> [{boxes (n,4) xyxy, labels (n,), scores (n,), masks (n,1,H,W)}] per image

images: list of (3, H, W) float tensors in [0, 1], any sizes (resized inside).
targets: list of {boxes (M,4) xyxy pixels, labels (M,) int64 in [0, num_classes), masks (M,H,W) uint8}.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..ops.boxes import cxcywh_to_xyxy
from ..ops.conv_grad import set_nchw_weight_grad
from ..ops.masks import crop_and_resize
from ..ops.roi_align import flatten_features
from .denoising import make_denoising_queries
from .dynamic_head import FEATURE_NAMES, DynamicHead, StageOutput
from .fuse import fold_batch_norms
from .matcher import MatchTarget
from .postprocess import postprocess
from .transform import ImageBatcher


@dataclass(frozen=True)
class FastPaths:
    """Work the model skips because it cannot change the result. Each one off is the plain path,
    kept so tests can check that both give the same outputs and benchmarks can time them."""

    deferred_masks: bool = True  # inference: the last stage's mask branch for the kept detections only
    matched_mask_gradients: bool = True  # training: the mask branch's gradient for matched proposals only
    # the backbone's input channels-last: oneDNN's convolutions run 5-17% faster (fp32 and bf16, CPU)
    # and the RoIAlign's (pixels, channels) layout becomes a view instead of a copy
    channels_last: bool = True
    # training: the weight gradient of the large (stride-4, stem) channels-last convolutions computed
    # on NCHW copies, where oneDNN's AVX2 kernels are ~2x faster (ops/conv_grad.py)
    nchw_weight_grad: bool = True


@dataclass
class EncodedImages:
    """A batch through the backbone: what every refinement stage pools from.

    features: the FPN levels laid out once for RoIAlign; sizes / original_sizes: (h, w) of each
    image after and before the batcher resized it (boxes of the head are absolute xyxy in the
    resized image)."""

    features: object  # ops.roi_align.FlatFeatures
    sizes: list[tuple[int, int]]
    original_sizes: list[tuple[int, int]]


def initial_proposal_boxes(num_proposals: int, mode: str, seed: int = 0) -> Tensor:
    """Normalised cxcywh starting boxes: the whole image ("image", Sparse R-CNN) or a fixed random
    spread of positions and sizes ("grid") that covers small and large objects from step one."""
    if mode == "image":
        return torch.tensor([0.5, 0.5, 1.0, 1.0]).repeat(num_proposals, 1)
    if mode == "grid":
        g = torch.Generator().manual_seed(seed)
        centers = torch.rand(num_proposals, 2, generator=g)
        sizes = torch.exp(torch.empty(num_proposals, 1).uniform_(-3.0, 0.0, generator=g)).repeat(1, 2)
        return torch.cat([centers, sizes], 1)
    raise ValueError(f"unknown proposal_init {mode!r}; expected 'image' or 'grid'")


class ISTR(nn.Module):
    def __init__(
        self,
        backbone: nn.Module,
        head: DynamicHead,
        codec: nn.Module,
        batcher: ImageBatcher,
        criterion: nn.Module | None,
        num_classes: int,
        num_proposals: int,
        hidden_dim: int,
        proposal_init: str = "image",
        detections_per_image: int = 100,
        score_threshold: float = 0.05,
        num_aux_proposals: int = 0,
        num_denoising_groups: int = 0,
        denoising_box_noise: float = 1.0,
        denoising_label_noise: float = 0.25,
    ):
        super().__init__()
        self.backbone, self.head, self.codec, self.batcher = backbone, head, codec, batcher
        self.criterion = criterion
        self.num_classes = num_classes
        self.detections_per_image, self.score_threshold = detections_per_image, score_threshold
        self.fast_paths = FastPaths()
        set_nchw_weight_grad(self.backbone, self.fast_paths.nchw_weight_grad)
        self.inference_only = False  # set by fuse_for_inference()
        self.proposal_features = nn.Embedding(num_proposals, hidden_dim)
        self.proposal_boxes = nn.Embedding(num_proposals, 4)
        with torch.no_grad():
            self.proposal_boxes.weight.copy_(initial_proposal_boxes(num_proposals, proposal_init))
        # hybrid matching's auxiliary group: used in training only, never at inference
        self.aux_proposal_features = (
            nn.Embedding(num_aux_proposals, hidden_dim) if num_aux_proposals else None
        )
        self.aux_proposal_boxes = nn.Embedding(num_aux_proposals, 4) if num_aux_proposals else None
        if num_aux_proposals:
            with torch.no_grad():
                self.aux_proposal_boxes.weight.copy_(
                    initial_proposal_boxes(num_aux_proposals, proposal_init, seed=1)
                )
        # contrastive denoising queries (training only): their features come from their class
        self.num_denoising_groups = num_denoising_groups
        self.denoising_box_noise, self.denoising_label_noise = denoising_box_noise, denoising_label_noise
        self.denoising_labels = nn.Embedding(num_classes, hidden_dim) if num_denoising_groups else None

    def forward(
        self,
        images: list[Tensor],
        targets: list[dict[str, Tensor]] | None = None,
        class_pairs: bool = False,
    ):
        """Training: the loss dict. Eval: detections per image, one per proposal, or with
        ``class_pairs`` the top (proposal, class) pairs (see :func:`~.postprocess.select_detections`)."""
        if self.training and self.inference_only:
            raise RuntimeError("this model was fused for inference (fuse_for_inference) and cannot train")
        if self.training and targets is None:
            raise ValueError("in training mode ISTR needs targets; call model.eval() for predictions")
        encoded = self.encode(images)
        sizes, features = encoded.sizes, encoded.features
        boxes, feats = self.learned_proposals(sizes)
        if self.training and self.criterion is None:
            raise RuntimeError("this model was built without a criterion and cannot compute losses")
        if self.training:
            targets = self.match_targets(targets, sizes, encoded.original_sizes)
        # training-only query groups beside the main one, which never sees them (nor they each other)
        group = torch.zeros(boxes.shape[1], dtype=torch.int64, device=boxes.device)
        n_main, n_aux, denoising, num_groups = boxes.shape[1], 0, None, 1
        if self.training and self.aux_proposal_boxes is not None:
            n_aux = self.aux_proposal_boxes.num_embeddings
            boxes = torch.cat([boxes, self._proposals(self.aux_proposal_boxes, sizes)], 1)
            feats = torch.cat([feats, self._expand(self.aux_proposal_features, len(images))], 1)
            group, num_groups = torch.cat([group, group.new_full((n_aux,), num_groups)]), num_groups + 1
        if self.training and self.denoising_labels is not None:
            denoising = make_denoising_queries(
                targets,
                self.denoising_labels.weight,
                self.num_denoising_groups,
                self.denoising_box_noise,
                self.denoising_label_noise,
            )
            boxes = torch.cat([boxes, denoising.boxes.to(boxes.dtype)], 1)
            feats = torch.cat([feats, denoising.features], 1)
            group, num_groups = (
                torch.cat([group, denoising.group + num_groups]),
                num_groups + self.num_denoising_groups,
            )
        attn_mask = group[:, None] != group[None, :] if num_groups > 1 else None
        fast = self.fast_paths
        if self.training:
            mask_stages = "matched" if fast.matched_mask_gradients else "all"
        else:
            mask_stages = "deferred" if fast.deferred_masks else "last"
        stage_outputs = self.refine(encoded, boxes, feats, mask_stages, attn_mask)
        if self.training:
            losses = self.criterion([o.proposals(0, n_main) for o in stage_outputs], targets, self.codec)
            groups = []
            if n_aux:
                groups.append(
                    self.criterion(
                        [o.proposals(n_main, n_main + n_aux) for o in stage_outputs],
                        targets,
                        self.codec,
                        copies=self.criterion.aux_copies,
                    )
                )
            if denoising is not None:
                groups.append(
                    self.criterion.fixed_match_losses(
                        [o.proposals(n_main + n_aux) for o in stage_outputs],
                        targets,
                        denoising.matches,
                        self.codec,
                    )
                )
            return {k: v + sum(g[k] for g in groups) for k, v in losses.items()}
        last = stage_outputs[-1]

        def mask_codes(image: int, proposals: Tensor) -> Tensor:
            return self.head.deferred_mask_codes(features, last, image, proposals, sizes)

        return postprocess(
            last.class_logits,
            last.boxes,
            mask_codes,
            self.codec,
            sizes,
            encoded.original_sizes,
            self.detections_per_image,
            self.score_threshold,
            class_pairs,
        )

    def encode(self, images: list[Tensor]) -> EncodedImages:
        """Resize and batch (3, H, W) images in [0, 1] and run the backbone once."""
        original_sizes = [(int(im.shape[-2]), int(im.shape[-1])) for im in images]
        batch, sizes = self.batcher(images)
        memory_format = torch.channels_last if self.fast_paths.channels_last else torch.contiguous_format
        batch = batch.contiguous(memory_format=memory_format)
        # pooled by every stage and, at inference, again for the kept detections' masks: lay out once
        return EncodedImages(flatten_features(self.backbone(batch), FEATURE_NAMES), sizes, original_sizes)

    def learned_proposals(self, sizes: list[tuple[int, int]]) -> tuple[Tensor, Tensor]:
        """The learned proposals for images of ``sizes`` (resized (h, w)): boxes (B, N, 4) absolute
        xyxy in each image, features (B, N, C)."""
        return self._proposals(self.proposal_boxes, sizes), self._expand(self.proposal_features, len(sizes))

    def refine(
        self,
        encoded: EncodedImages,
        boxes: Tensor,
        features: Tensor,
        mask_stages: str,
        attn_mask: Tensor | None = None,
    ) -> list[StageOutput]:
        """Proposals (B, K, 4) xyxy and their features (B, K, C) through every refinement stage on
        ``encoded``; one output per stage (``mask_stages``: see :meth:`DynamicHead.forward`). The
        click tool refines its prompt boxes with this, exactly as ``forward`` refines the learned ones."""
        return self.head(
            encoded.features, boxes, features, encoded.sizes, mask_stages=mask_stages, attn_mask=attn_mask
        )

    def set_fast_paths(self, **changes: bool) -> ISTR:
        """Switch fast paths (see :class:`FastPaths`) on or off, e.g. ``deferred_masks=False``."""
        self.fast_paths = dataclasses.replace(self.fast_paths, **changes)
        set_nchw_weight_grad(self.backbone, self.fast_paths.nchw_weight_grad)
        return self

    def fuse_for_inference(self) -> ISTR:
        """Fold the backbone's BatchNorms into its convolutions: same outputs, one pass less over every
        feature map. Puts the model in eval mode for good (it can no longer train)."""
        self.eval()
        fold_batch_norms(self.backbone)
        self.inference_only = True
        return self

    @staticmethod
    def _proposals(embedding: nn.Embedding, sizes: list[tuple[int, int]]) -> Tensor:
        """(B, N, 4) absolute xyxy proposal boxes in each resized image."""
        boxes = cxcywh_to_xyxy(embedding.weight)
        whwh = torch.tensor([[w, h, w, h] for h, w in sizes], dtype=boxes.dtype, device=boxes.device)
        return boxes[None] * whwh[:, None]

    @staticmethod
    def _expand(embedding: nn.Embedding, batch_size: int) -> Tensor:
        return embedding.weight[None].expand(batch_size, -1, -1)

    def match_targets(self, targets: list[dict[str, Tensor]], sizes, original_sizes) -> list[MatchTarget]:
        """User targets (original pixels, full masks) -> what the criterion needs (resized boxes,
        box-aligned binary masks and their embeddings)."""
        if not bool(self.codec.fitted):
            raise RuntimeError(
                "the mask codec is not fitted: call model.codec.fit(box_masks) or "
                "istr_core.fit_mask_encoder(...) before training"
            )
        s = self.codec.mask_size
        out = []
        for t, (h, w), (oh, ow) in zip(targets, sizes, original_sizes, strict=True):
            if "masks" not in t:
                raise ValueError("ISTR targets need 'masks' (M, H, W) besides 'boxes' and 'labels'")
            boxes = t["boxes"].float()
            box_masks = (crop_and_resize(t["masks"], boxes, s) > 0.5).float()
            scale = boxes.new_tensor([w / ow, h / oh, w / ow, h / oh])
            out.append(
                MatchTarget(
                    labels=t["labels"].long(),
                    boxes=boxes * scale,
                    box_masks=box_masks,
                    codes=self.codec.encode(box_masks),
                    image_size=boxes.new_tensor([w, h, w, h]),
                )
            )
        return out
