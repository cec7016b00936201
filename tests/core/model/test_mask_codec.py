import numpy as np
import pytest
import torch

from istr_core import fit_mask_encoder
from istr_core.model.mask_codec import DCTMaskCodec, PCAMaskCodec
from istr_core.ops.masks import crop_and_resize
from istr_core.train.samples import mask_boxes
from istr_core.train.synthetic import make_scene


def _box_masks(seed: int, count: int, size: int = 56) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    crops = []
    while sum(len(c) for c in crops) < count:
        _, masks, _ = make_scene(rng, 160, 160, max_objects=6)
        if len(masks):
            boxes = torch.from_numpy(mask_boxes(masks))
            crops.append((crop_and_resize(torch.from_numpy(masks), boxes, size) > 0.5).float())
    return torch.cat(crops)[:count]


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a > 0.5, b > 0.5
    return (a & b).flatten(1).sum(1) / (a | b).flatten(1).sum(1).clamp(min=1)


def test_pca_reconstructs_held_out_masks():
    train, held_out = _box_masks(0, 1500), _box_masks(1, 300)
    codec = fit_mask_encoder(train, mask_size=56, dim=64)
    recon = codec.decode(codec.encode(held_out))
    assert recon.shape == held_out.shape
    assert _iou(recon, held_out).mean() >= 0.9


def test_pca_fits_full_image_masks_with_boxes():
    masks = np.zeros((3, 50, 60), np.uint8)
    masks[0, 5:20, 5:30] = 1
    masks[1, 10:45, 20:50] = 1
    masks[2, 0:10, 0:10] = 1
    codec = fit_mask_encoder(masks, boxes=mask_boxes(masks), mask_size=16, dim=4)
    assert bool(codec.fitted)
    # rectangles fill their box: the reconstruction is (almost) all foreground
    assert codec.decode(codec.encode(torch.ones(1, 16, 16))).mean() > 0.95


def test_pca_whitening_gives_unit_variance_codes():
    train = _box_masks(2, 800, size=28)
    codec = PCAMaskCodec(28, 16).fit(train)
    std = codec.encode(train).std(0)
    assert torch.allclose(std, torch.ones(16), atol=0.05)


def test_pca_needs_two_masks():
    with pytest.raises(ValueError, match="at least 2"):
        PCAMaskCodec(8, 4).fit(torch.ones(1, 8, 8))


def test_dct_reconstructs_without_fitting():
    held_out = _box_masks(3, 200)
    codec = DCTMaskCodec(56, 256)
    assert _iou(codec.decode(codec.encode(held_out)), held_out).mean() >= 0.9


def test_codec_travels_in_state_dict():
    codec = PCAMaskCodec(28, 8).fit(_box_masks(4, 100, size=28))
    clone = PCAMaskCodec(28, 8)
    clone.load_state_dict(codec.state_dict())
    x = _box_masks(5, 10, size=28)
    assert torch.equal(clone.encode(x), codec.encode(x)) and bool(clone.fitted)
