"""The CPU multi-scale RoIAlign equals torchvision's, values and gradients, on every level and border."""

from collections import OrderedDict

import pytest
import torch
from torchvision.ops import MultiScaleRoIAlign as Reference

from istr_core.ops.roi_align import MultiScaleRoIAlign, flatten_features

NAMES = ["0", "1", "2", "3"]


def _features(batch=2, channels=4, height=384, width=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    return OrderedDict(
        (
            name,
            torch.randn(
                batch,
                channels,
                height // 2 ** (i + 2),
                width // 2 ** (i + 2),
                generator=g,
                requires_grad=True,
            ),
        )
        for i, name in enumerate(NAMES)
    )


def _boxes(count, height, width, seed):
    """Boxes of every FPN level's size, some reaching past the image border, a few thinner than a pixel."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(count, 2, generator=g) * torch.tensor([width, height]) - 10
    wh = torch.exp(torch.empty(count, 2).uniform_(-1.0, 6.4, generator=g))
    return torch.cat([xy, xy + wh], 1)


@pytest.mark.parametrize("output_size", [7, 14])
def test_values_and_gradients_match_torchvision(output_size):
    features = _features()
    image_shapes = [(384, 512), (360, 500)]
    whole = torch.tensor([[-50.0, -40, 560, 420], [10, 5, 500, 380]])  # the coarsest level's sizes
    boxes = [torch.cat([_boxes(38, 384, 512, seed=1), whole]), _boxes(25, 360, 500, seed=2)]
    ours = MultiScaleRoIAlign(NAMES, output_size, 2)(features, boxes, image_shapes)
    reference = Reference(NAMES, output_size, 2)(features, boxes, image_shapes)
    assert ours.shape == reference.shape == (65, 4, output_size, output_size)
    # equal up to float rounding: the samples are summed in another order
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-5 * float(reference.detach().abs().max()))
    upstream = torch.randn(ours.shape, generator=torch.Generator().manual_seed(3))
    grads = torch.autograd.grad(ours, list(features.values()), upstream)
    expected = torch.autograd.grad(reference, list(features.values()), upstream)
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * float(want.abs().max()))
    assert all(g.abs().sum() > 0 for g in expected)  # the boxes reach every level


def test_flattened_features_are_reusable_and_empty_images_work():
    features = _features()
    flat = flatten_features(features, NAMES)
    pooler = MultiScaleRoIAlign(NAMES, 7, 2)
    shapes = [(384, 512), (384, 512)]
    boxes = [_boxes(10, 384, 512, seed=3), torch.zeros(0, 4)]
    a = pooler(flat, boxes, shapes)
    b = pooler(features, boxes, shapes)
    assert torch.equal(a, b) and a.shape == (10, 4, 7, 7)
    none = pooler(flat, [torch.zeros(0, 4), torch.zeros(0, 4)], shapes)
    assert none.shape == (0, 4, 7, 7)


def test_adaptive_sampling_is_refused():
    with pytest.raises(ValueError, match="sampling_ratio"):
        MultiScaleRoIAlign(NAMES, 7, 0)
