"""Multi-scale RoIAlign for CPU training: torchvision's sampling, with a backward pass that is fast on CPU.

Why: torchvision's CPU ``roi_align`` backward scatters every output element's gradient one channel at
a time in a single thread; in the cpu-small training step on droplets it took 28% of the time (more
than the backbone's forward). Here RoIAlign is written as what it is, a fixed sparse linear map from
feature pixels to RoI bins (each bin averages sampling_ratio^2 bilinear samples, 4 pixels each):
the forward is one ``embedding_bag`` (a weighted gather of channel rows), the backward the same
operation on the transposed map (bins grouped by the pixel they touch). Same level assignment, sample
positions and border rules as torchvision (``aligned=False``), equal up to float rounding (a test
checks values and gradients against torchvision).

On CUDA the pooler calls torchvision's kernels, which are already fast there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import MultiScaleRoIAlign as TorchvisionMultiScaleRoIAlign


@dataclass
class FlatFeatures:
    """Feature maps of all levels as one (rows, C) channels-last matrix: level l, image b, pixel (y, x)
    is row ``offsets[l] + (b * H_l + y) * W_l + x``. Built once per forward and shared by every stage's
    poolers, so the layout change is paid once."""

    matrix: Tensor
    shapes: list[tuple[int, int]]  # (H_l, W_l) per level
    offsets: list[int]
    batch_size: int
    source: dict[str, Tensor]  # the original maps (the CUDA path pools from these)


def flatten_features(features: dict[str, Tensor], names: list[str]) -> FlatFeatures:
    maps = [features[n] for n in names]
    b = maps[0].shape[0]
    shapes = [(int(m.shape[-2]), int(m.shape[-1])) for m in maps]
    offsets, total = [], 0
    for h, w in shapes:
        offsets.append(total)
        total += b * h * w
    matrix = (
        torch.cat([m.permute(0, 2, 3, 1).reshape(-1, m.shape[1]) for m in maps])
        if maps[0].device.type == "cpu"
        else maps[0].new_zeros((0, maps[0].shape[1]))
    )
    return FlatFeatures(matrix, shapes, offsets, b, {n: features[n] for n in names})


def _axis_samples(start: Tensor, length: Tensor, bins: int, ratio: int, size: int) -> tuple[Tensor, Tensor]:
    """Bilinear neighbours along one axis: indices (K, bins, ratio, 2) and weights (same shape), with
    torchvision's rules (samples beyond one pixel outside the map count zero; others clamp to it)."""
    steps = (torch.arange(bins * ratio, dtype=start.dtype, device=start.device) + 0.5) / ratio
    v = start[:, None] + length[:, None] / bins * steps
    valid = (v >= -1.0) & (v <= size)
    v = v.clamp(min=0)
    low = v.floor().clamp(max=size - 1)
    at_end = low >= size - 1
    v = torch.where(at_end, low, v)
    frac = v - low
    low = low.long()
    high = torch.where(at_end, low, low + 1)
    index = torch.stack([low, high], -1).view(-1, bins, ratio, 2)
    weight = (torch.stack([1 - frac, frac], -1) * valid[..., None]).view(-1, bins, ratio, 2)
    return index, weight


def bilinear_taps(
    boxes: Tensor,
    image_index: Tensor,
    scale: float,
    height: int,
    width: int,
    bins: int,
    ratio: int,
    row_offset: int,
) -> tuple[Tensor, Tensor]:
    """Rows of the flat feature matrix each RoI bin reads and their weights: (K * bins^2, 4 ratio^2) each.

    boxes (K, 4) xyxy in image pixels; image_index (K,) int64."""
    k = boxes.shape[0]
    x0, y0, x1, y1 = (boxes * scale).unbind(1)
    xi, xw = _axis_samples(x0, (x1 - x0).clamp(min=1.0), bins, ratio, width)
    yi, yw = _axis_samples(y0, (y1 - y0).clamp(min=1.0), bins, ratio, height)
    base = row_offset + image_index * (height * width)
    # dims: (K, bin_y, bin_x, sample_y, sample_x, corner_y, corner_x)
    rows = (
        base[:, None, None, None, None, None, None]
        + yi[:, :, None, :, None, :, None] * width
        + xi[:, None, :, None, :, None, :]
    )
    weights = yw[:, :, None, :, None, :, None] * xw[:, None, :, None, :, None, :] / (ratio * ratio)
    taps = 4 * ratio * ratio
    return rows.reshape(k * bins * bins, taps), weights.reshape(k * bins * bins, taps)


class _GatherRows(torch.autograd.Function):
    """out[i] = sum_j weights[i, j] * matrix[rows[i, j]]; the backward groups taps by row (sort once)
    so it is a gather too, rather than a scatter."""

    @staticmethod
    def forward(ctx, matrix: Tensor, rows: Tensor, weights: Tensor) -> Tensor:
        ctx.save_for_backward(rows, weights)
        ctx.num_rows = matrix.shape[0]
        return F.embedding_bag(rows, matrix, per_sample_weights=weights.to(matrix.dtype), mode="sum")

    @staticmethod
    def backward(ctx, grad: Tensor):
        rows, weights = ctx.saved_tensors
        flat = rows.flatten()
        order = torch.argsort(flat)
        touched, counts = torch.unique_consecutive(flat[order], return_counts=True)
        offsets = counts.cumsum(0) - counts
        sums = F.embedding_bag(
            torch.div(order, rows.shape[1], rounding_mode="floor"),
            grad.contiguous(),
            offsets,
            per_sample_weights=weights.flatten()[order].to(grad.dtype),
            mode="sum",
        )
        grad_matrix = grad.new_zeros((ctx.num_rows, grad.shape[1])).index_copy_(0, touched, sums)
        return grad_matrix, None, None


class MultiScaleRoIAlign(nn.Module):
    """Drop-in for ``torchvision.ops.MultiScaleRoIAlign`` (same arguments and call); see the module doc.

    ``features`` may be the FPN dict or :func:`flatten_features` of it (shared between calls).
    """

    def __init__(
        self,
        featmap_names: list[str],
        output_size: int,
        sampling_ratio: int,
        canonical_scale: int = 224,
        canonical_level: int = 4,
    ):
        super().__init__()
        if sampling_ratio <= 0:
            raise ValueError("sampling_ratio must be > 0 (the adaptive torchvision mode is not implemented)")
        self.featmap_names, self.output_size, self.sampling_ratio = (
            list(featmap_names),
            output_size,
            sampling_ratio,
        )
        self.canonical_scale, self.canonical_level = canonical_scale, canonical_level
        self.cuda_pooler = TorchvisionMultiScaleRoIAlign(
            self.featmap_names,
            output_size,
            sampling_ratio,
            canonical_scale=canonical_scale,
            canonical_level=canonical_level,
        )

    def forward(
        self,
        features: dict[str, Tensor] | FlatFeatures,
        boxes: list[Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> Tensor:
        """boxes: one (K_b, 4) xyxy tensor per image, in resized-image pixels -> (sum K_b, C, P, P)."""
        flat = (
            features if isinstance(features, FlatFeatures) else flatten_features(features, self.featmap_names)
        )
        if flat.matrix.device.type != "cpu":
            return self.cuda_pooler(flat.source, boxes, image_shapes)
        all_boxes = torch.cat(boxes).to(flat.matrix.dtype)
        image_index = torch.cat(
            [
                torch.full((len(b),), i, dtype=torch.int64, device=all_boxes.device)
                for i, b in enumerate(boxes)
            ]
        )
        scales = self._scales(flat.shapes, image_shapes)
        levels = self._levels(all_boxes, scales)
        p, taps = self.output_size, 4 * self.sampling_ratio**2
        rows = torch.zeros((len(all_boxes), p * p, taps), dtype=torch.int64, device=all_boxes.device)
        weights = all_boxes.new_zeros((len(all_boxes), p * p, taps))
        with torch.no_grad():
            for level, ((h, w), offset, scale) in enumerate(
                zip(flat.shapes, flat.offsets, scales, strict=True)
            ):
                chosen = torch.where(levels == level)[0]
                if len(chosen) == 0:
                    continue
                r, wt = bilinear_taps(
                    all_boxes[chosen], image_index[chosen], scale, h, w, p, self.sampling_ratio, offset
                )
                rows[chosen] = r.view(len(chosen), p * p, taps)
                weights[chosen] = wt.view(len(chosen), p * p, taps)
        out = _GatherRows.apply(flat.matrix, rows.view(-1, taps), weights.view(-1, taps))
        return out.view(len(all_boxes), p, p, flat.matrix.shape[1]).permute(0, 3, 1, 2)

    @staticmethod
    def _scales(shapes: list[tuple[int, int]], image_shapes: list[tuple[int, int]]) -> list[float]:
        """Each level's stride as a power-of-two scale, inferred like torchvision (from the largest image)."""
        height = max(s[0] for s in image_shapes)
        return [2.0 ** round(math.log2(h / height)) for h, _ in shapes]

    def _levels(self, boxes: Tensor, scales: list[float]) -> Tensor:
        """FPN level of each box (Feature Pyramid Networks, eq. 1), as torchvision's LevelMapper."""
        k_min, k_max = -math.log2(scales[0]), -math.log2(scales[-1])
        size = ((boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)).sqrt()
        target = torch.floor(self.canonical_level + torch.log2(size / self.canonical_scale) + 1e-6)
        return (target.clamp(k_min, k_max) - k_min).to(torch.int64)
